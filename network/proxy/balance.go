package proxy

import "flotilla/api"

// pick chooses the target of one attempt. It prefers the chosen revision's
// endpoints and falls back to any of the service's when the revision has
// none left (unless strict, as mirrors are); it passes over ejected
// endpoints while others remain, and never returns one already tried.
// rev < 0 means that no revision was chosen.
func (s *service) pick(pp *portPool, rev int, strict bool, tried []*endpoint, now int64, rnd func() float64) *target {
	if pp == nil {
		return nil
	}
	var pools [2]*pool
	n := 0
	if pl := pp.byRevision[rev]; rev >= 0 && pl != nil {
		pools[n] = pl
		n++
	}
	if !strict {
		pools[n] = pp.all
		n++
	}
	for _, skipEjected := range [2]bool{true, false} {
		for _, pl := range pools[:n] {
			if t := pl.pick(s.policy, tried, skipEjected, now, rnd); t != nil {
				return t
			}
		}
	}
	return nil
}

// pick applies the balancing policy to the pool's usable targets.
func (pl *pool) pick(policy string, tried []*endpoint, skipEjected bool, now int64, rnd func() float64) *target {
	n := len(pl.targets)
	if n == 0 {
		return nil
	}
	usable := func(t *target) bool {
		for _, e := range tried {
			if e == t.ep {
				return false
			}
		}
		return !skipEjected || !t.ep.ejected(now)
	}
	switch policy {
	case api.BalanceLeastRequest:
		// Fewest in flight; ties go round the pool so that idle
		// endpoints share the load.
		start := int(pl.next.Add(1) % uint64(n))
		var best *target
		for i := range n {
			t := &pl.targets[(start+i)%n]
			if usable(t) && (best == nil || t.ep.inflight.Load() < best.ep.inflight.Load()) {
				best = t
			}
		}
		return best
	case api.BalanceP2C:
		// Two distinct usable targets at random; the one with fewer in
		// flight wins.
		count := 0
		for i := range pl.targets {
			if usable(&pl.targets[i]) {
				count++
			}
		}
		if count == 0 {
			return nil
		}
		a := randIndex(rnd, count)
		if count == 1 {
			return pl.nthUsable(usable, a)
		}
		b := randIndex(rnd, count-1)
		if b >= a {
			b++
		}
		ta, tb := pl.nthUsable(usable, a), pl.nthUsable(usable, b)
		if tb.ep.inflight.Load() < ta.ep.inflight.Load() {
			return tb
		}
		return ta
	default: // round-robin
		start := pl.next.Add(1) - 1
		for i := range uint64(n) {
			if t := &pl.targets[(start+i)%uint64(n)]; usable(t) {
				return t
			}
		}
		return nil
	}
}

func (pl *pool) nthUsable(usable func(*target) bool, k int) *target {
	for i := range pl.targets {
		if t := &pl.targets[i]; usable(t) {
			if k == 0 {
				return t
			}
			k--
		}
	}
	return nil
}

func randIndex(rnd func() float64, n int) int {
	return min(int(rnd()*float64(n)), n-1)
}
