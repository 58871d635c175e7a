package containerd

import "time"

// stepTimes records how long the steps of one Create or Start took, for
// its debug line: where the time of a slow start went.
type stepTimes struct {
	start, last time.Time
	attrs       []any
}

func newStepTimes() *stepTimes {
	now := time.Now()
	return &stepTimes{start: now, last: now}
}

// step ends the step called name.
func (s *stepTimes) step(name string) {
	now := time.Now()
	s.attrs = append(s.attrs, name+"_ms", now.Sub(s.last).Milliseconds())
	s.last = now
}

// log is the attributes of the debug line: the steps, then the total.
func (s *stepTimes) log(attrs ...any) []any {
	return append(append(attrs, s.attrs...), "took_ms", time.Since(s.start).Milliseconds())
}
