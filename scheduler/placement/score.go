package placement

import "flotilla/api"

// rank is what the strategies compare for one feasible node.
type rank struct {
	index    int     // position in the caller's order: ties go to the earliest
	replicas int     // replicas of this service already there
	util     float64 // utilisation once the replica is placed
}

func rankOf(index int, n *Node, req *Request) rank {
	return rank{index: index, replicas: n.ServiceReplicas, util: utilisationAfter(n, req.Resources)}
}

// utilisationAfter is the mean of the cpu and memory fractions of capacity
// in use once r is placed on n. A dimension the node has no capacity of
// counts as empty: only a request of zero of it can be feasible there.
func utilisationAfter(n *Node, r api.Resources) float64 {
	return (fraction(int64(n.Allocated.CPU+r.CPU), int64(n.Capacity.CPU)) +
		fraction(int64(n.Allocated.Memory+r.Memory), int64(n.Capacity.Memory))) / 2
}

func fraction(used, capacity int64) float64 {
	if capacity <= 0 {
		return 0
	}
	return float64(used) / float64(capacity)
}

// better reports whether a ranks before b under the strategy.
func better(binpack bool, a, b *rank) bool {
	if binpack {
		return binpackBetter(a, b)
	}
	return spreadBetter(a, b)
}
