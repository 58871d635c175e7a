package scenario

import (
	"regexp"
	"strconv"
	"sync"
	"time"

	"flotilla/api"
)

// idPattern matches the random IDs the cluster gives allocations,
// evaluations and the like (16 hexadecimal digits).
var idPattern = regexp.MustCompile(`\b[0-9a-f]{16}\b`)

// StableIDs wraps a reporter so that every random ID it shows becomes
// #1, #2, ... in the order the run shows them first: two runs that
// tell the same story print the same trace, whatever IDs the cluster
// drew (virtual-time traces are compared byte for byte).
func StableIDs(r Reporter) Reporter { return &stableIDs{next: r, ids: map[string]string{}} }

type stableIDs struct {
	next Reporter
	mu   sync.Mutex
	ids  map[string]string
}

func (s *stableIDs) rewrite(text string) string {
	return idPattern.ReplaceAllStringFunc(text, func(id string) string {
		alias, ok := s.ids[id]
		if !ok {
			alias = "#" + strconv.Itoa(len(s.ids)+1)
			s.ids[id] = alias
		}
		return alias
	})
}

func (s *stableIDs) Start(r StartReport) { s.next.Start(r) }

func (s *stableIDs) Step(r StepReport) {
	s.mu.Lock()
	r.Text, r.Error = s.rewrite(r.Text), s.rewrite(r.Error)
	s.mu.Unlock()
	s.next.Step(r)
}

func (s *stableIDs) Event(at time.Duration, e *api.Event) {
	s.mu.Lock()
	c := *e
	c.Message, c.Allocation = s.rewrite(c.Message), s.rewrite(c.Allocation)
	s.mu.Unlock()
	s.next.Event(at, &c)
}

func (s *stableIDs) End(r EndReport) {
	s.mu.Lock()
	r.Failure = s.rewrite(r.Failure)
	s.mu.Unlock()
	s.next.End(r)
}
