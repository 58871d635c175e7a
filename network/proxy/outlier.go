package proxy

import "time"

// observe records how an attempt on e went and ejects e after too many
// failures in a row: for BaseEjection, doubling with each repeat up to
// MaxEjection, as long as no more than MaxEjectedPercent of the ready
// endpoints of e's revision would be out at once. The cap is per revision
// because the route table splits traffic between revisions: with every
// endpoint of a canary out, its share would go to the stable revision,
// and the analysis would see no more of the canary's errors. An ejected
// endpoint comes back by itself when its time is up; ejection is only
// ever passive.
func (p *Proxy) observe(s *service, e *endpoint, failed bool, now time.Time) {
	oc := p.cfg.Outlier
	if !failed {
		if e.failures.Load() != 0 {
			e.failures.Store(0)
		}
		return
	}
	if oc.Consecutive < 0 || e.failures.Add(1) < int32(oc.Consecutive) {
		return
	}
	s.rt.mu.Lock()
	defer s.rt.mu.Unlock()
	nowNano := now.UnixNano()
	if e.ejected(nowNano) {
		return
	}
	ready, out := 0, 0
	for _, r := range s.ready {
		if r.revision != e.revision {
			continue
		}
		ready++
		if r.ejected(nowNano) {
			out++
		}
	}
	if (out+1)*100 > ready*oc.MaxEjectedPercent {
		// The cap holds: the endpoint stays in, and its next failure
		// tries again.
		return
	}
	if !e.returnedAt.IsZero() && now.Sub(e.returnedAt) >= oc.MaxEjection {
		e.ejections = 0 // it behaved for long enough: start again
	}
	e.ejections++
	d := oc.BaseEjection
	for i := 1; i < e.ejections && d < oc.MaxEjection; i++ {
		d *= 2
	}
	d = min(d, oc.MaxEjection)
	until := now.Add(d)
	e.ejectedUntil.Store(until.UnixNano())
	e.returnedAt = until
	e.failures.Store(0)
	e.series.ejected()
	p.log.Info("endpoint ejected", "service", s.key, "revision", e.revision, "endpoint", e.id,
		"for", d, "failures", oc.Consecutive)
}
