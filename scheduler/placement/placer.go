package placement

import "flotilla/api"

// Placer places the replicas of one evaluation one at a time. It is not
// safe for concurrent use; each worker makes its own.
type Placer struct {
	nodes   []*Node
	req     Request
	binpack bool

	// limit is how many feasible nodes a placement scores: all of them on
	// small clusters, a sample on large ones.
	limit   int
	sampled bool
	order   order // the seeded shuffle walked when sampled
	cursor  int   // where in order the next walk starts

	// static caches whether each node passes staticVerdict: status,
	// eligibility and constraints do not change while placing, so each
	// node is checked once. Bit sets keep New's allocation at n/4 bytes.
	static staticCache

	// load, when set, fills a node's usage the first time it is needed;
	// loaded marks the nodes done.
	load   func(*Node)
	loaded []uint64

	failed  bool
	failure Failure
}

// New makes a Placer for req over nodes, which the caller gives in a stable
// order (sorted by name) and which the Placer then owns: Place updates the
// chosen node. seed makes the sampling order on large clusters
// reproducible; the caller derives it from the evaluation ID. New does not
// look at the nodes: its cost is one zeroed bit set of 2 bits per node.
func New(nodes []*Node, req Request, seed uint64) *Placer {
	return newPlacer(nodes, req, seed, exactUpTo)
}

// newPlacer scores every node when there are at most exactMax of them;
// tests lower exactMax to exercise sampling on small clusters.
func newPlacer(nodes []*Node, req Request, seed uint64, exactMax int) *Placer {
	p := &Placer{
		nodes:   nodes,
		req:     req,
		binpack: req.Strategy == api.StrategyBinpack,
		limit:   len(nodes),
		static:  newStaticCache(len(nodes)),
	}
	if len(nodes) > exactMax {
		p.sampled = true
		p.limit = sampleLimit(len(nodes))
		p.order = newOrder(len(nodes), seed)
	}
	return p
}

// Place picks a node for one replica, records it on that node (Allocated,
// HostPorts, ServiceReplicas) and returns it; ok is false when no node
// fits, and Failure says why. avoid names a node to place on only when
// nothing else fits ("" for none): the replacement of a failed allocation
// prefers another node.
//
// On a large cluster Place continues a circular walk of the shuffled nodes
// and scores the first few feasible ones it meets (spread resumes after the
// last node it looked at, binpack at the node it last filled), so it costs
// O(log n) checks while nodes are plentiful; only a failure walks them all.
// A failure means no node fits, and since nothing changes when Place fails,
// every later call fails at once with the same Failure.
func (p *Placer) Place(avoid string) (n *Node, ok bool) {
	if p.failed {
		return nil, false
	}
	count := len(p.nodes)
	var best rank
	bestPos, avoidIndex, avoidPos := -1, -1, -1
	pos, found := p.cursor, 0
	for looked := 0; looked < count && found < p.limit; looked++ {
		here := pos
		if pos++; pos == count {
			pos = 0
		}
		i := p.index(here)
		if !p.feasible(i) {
			continue
		}
		node := p.nodes[i]
		if avoid != "" && node.Name == avoid {
			avoidIndex, avoidPos = i, here
			continue
		}
		found++
		if r := rankOf(i, node, &p.req); bestPos < 0 || better(p.binpack, &r, &best) {
			best, bestPos = r, here
		}
	}
	chosen, chosenPos := best.index, bestPos
	if bestPos < 0 {
		if avoidIndex < 0 {
			p.fail()
			return nil, false
		}
		chosen, chosenPos = avoidIndex, avoidPos
	}
	if p.sampled {
		p.cursor = pos
		if p.binpack {
			// Stay on the node being filled until it is full.
			p.cursor = chosenPos
		}
	}
	n = p.nodes[chosen]
	n.record(&p.req)
	return n, true
}

// SetLoader makes the Placer fill in a node's usage (Allocated, HostPorts)
// by calling load the first time it needs it, after the node has passed
// the checks that placing cannot change (status, eligibility,
// constraints). On a large cluster a placement samples a few nodes, so
// usage is read for those alone instead of for every node up front.
func (p *Placer) SetLoader(load func(*Node)) {
	p.load = load
	p.loaded = make([]uint64, (len(p.nodes)+63)/64)
}

func (p *Placer) ensureLoaded(i int) {
	if p.load == nil || p.loaded[i/64]&(1<<(i%64)) != 0 {
		return
	}
	p.loaded[i/64] |= 1 << (i % 64)
	p.load(p.nodes[i])
}

// Failure explains the last Place that returned false.
func (p *Placer) Failure() Failure { return p.failure }

func (p *Placer) index(pos int) int {
	if p.sampled {
		return p.order.at(pos)
	}
	return pos
}

func (p *Placer) feasible(i int) bool {
	ok, known := p.static.get(i)
	if !known {
		ok = staticVerdict(p.nodes[i], &p.req) == fits
		p.static.set(i, ok)
	}
	if !ok {
		return false
	}
	p.ensureLoaded(i)
	return dynamicVerdict(p.nodes[i], &p.req) == fits
}

// staticCache holds two bits per node: known, and if so whether it passed.
type staticCache []uint64

func newStaticCache(n int) staticCache { return make(staticCache, (n+31)/32) }

func (c staticCache) get(i int) (ok, known bool) {
	w := c[i/32] >> (i % 32 * 2)
	return w&2 != 0, w&1 != 0
}

func (c staticCache) set(i int, ok bool) {
	bits := uint64(1)
	if ok {
		bits = 3
	}
	c[i/32] |= bits << (i % 32 * 2)
}

// fail records why every node refused the request.
func (p *Placer) fail() {
	byVerdict := make(map[verdict]int)
	for i, node := range p.nodes {
		v := staticVerdict(node, &p.req)
		if v == fits {
			p.ensureLoaded(i)
			v = dynamicVerdict(node, &p.req)
		}
		byVerdict[v]++
	}
	reasons := make(map[string]int, len(byVerdict))
	for v, nodes := range byVerdict {
		reasons[v.text(&p.req)] += nodes
	}
	p.failed = true
	p.failure = Failure{Evaluated: len(p.nodes), Reasons: reasons}
}
