package scheduler

import (
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/sketch"
	"flotilla/scheduler/rollout"
)

// abBook keeps, on the leader, the visitors of every running A/B
// experiment: per experiment (service and salt) and variant, the union of
// the visitor and converted-visitor sketches that every proxy reported.
// Proxies report their sketches whole each second and a union forgets
// nothing, so a user seen by several proxies counts once, a proxy that
// restarted (and reports less) takes nothing away, and a new leader has
// the union again one report after every proxy reached it.
//
// Bounds: a sketch is 16 KiB at most, so an experiment (two variants, two
// sketches each) takes at most 64 KiB; at most abMaxExperiments are kept
// (16 MiB), the least recently reported going first, and an experiment
// nobody reported for abForget is dropped.
//
// The book is in memory only. The rollout state keeps the merged sketches
// as of each analysis (through Raft), and the controller merges them with
// the book's, so a new leader's counts never go back; and until this
// server has led for abWarmup (every proxy has reported to it) the book
// says its figures are incomplete, and no analysis runs on them.
type abBook struct {
	mu          sync.Mutex
	since       time.Time // when this server began leading
	experiments map[abKey]*abExperiment
}

type abKey struct{ namespace, name, salt string }

type abExperiment struct {
	updated   time.Time
	revisions map[int]*rollout.ABVisitors
}

const (
	// abWarmup: agents report every trafficReportInterval; three of them
	// leave time for a report that was on its way to the old leader.
	abWarmup         = 3 * trafficReportInterval
	abMaxExperiments = 256
	abForget         = 10 * time.Minute
)

func newABBook() *abBook { return &abBook{experiments: map[abKey]*abExperiment{}} }

// lead notes that this server leads from now: its figures are incomplete
// until every proxy has reported to it.
func (b *abBook) lead(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.since = now
}

// record merges the A/B sketches of one node's reports. Sketches that do
// not decode are left out (a proxy of another version), and counted in
// the answer. A nil book (a Server built by hand in a test) records
// nothing.
func (b *abBook) record(reports []api.TrafficReport, now time.Time) (rejected int) {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range reports {
		if r.AB == nil || r.AB.Salt == "" {
			continue
		}
		visitors, err := sketch.Decode(r.AB.Visitors)
		if err != nil {
			rejected++
			continue
		}
		converted, err := sketch.Decode(r.AB.Converted)
		if err != nil {
			rejected++
			continue
		}
		k := abKey{r.Namespace, r.Service, r.AB.Salt}
		e := b.experiments[k]
		if e == nil {
			b.makeRoom(now)
			e = &abExperiment{revisions: map[int]*rollout.ABVisitors{}}
			b.experiments[k] = e
		}
		e.updated = now
		v := e.revisions[r.Revision]
		if v == nil {
			v = &rollout.ABVisitors{}
			e.revisions[r.Revision] = v
		}
		v.Visitors.Merge(visitors)
		v.Converted.Merge(converted)
	}
	return rejected
}

// makeRoom drops the experiments nobody reported for abForget and, if the
// book is still full, the least recently reported one.
func (b *abBook) makeRoom(now time.Time) {
	var oldest abKey
	var oldestAt time.Time
	for k, e := range b.experiments {
		if now.Sub(e.updated) > abForget {
			delete(b.experiments, k)
			continue
		}
		if oldestAt.IsZero() || e.updated.Before(oldestAt) {
			oldest, oldestAt = k, e.updated
		}
	}
	if len(b.experiments) >= abMaxExperiments {
		delete(b.experiments, oldest)
	}
}

// visitors is a copy of one experiment's sketches per revision, and
// whether they are complete: this server has led for abWarmup.
func (b *abBook) visitors(namespace, name, salt string, now time.Time) (map[int]*rollout.ABVisitors, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	complete := !b.since.IsZero() && now.Sub(b.since) >= abWarmup
	out := map[int]*rollout.ABVisitors{}
	if e := b.experiments[abKey{namespace, name, salt}]; e != nil {
		for rev, v := range e.revisions {
			c := &rollout.ABVisitors{}
			c.Visitors.Merge(&v.Visitors)
			c.Converted.Merge(&v.Converted)
			out[rev] = c
		}
	}
	return out, complete
}

// abVisitors is what the rollout controller reads (planContext).
func (s *Server) abVisitors(namespace, name, salt string) (map[int]*rollout.ABVisitors, bool) {
	return s.abs.visitors(namespace, name, salt, s.cfg.Clock.Now())
}
