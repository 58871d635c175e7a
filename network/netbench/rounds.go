package netbench

import "sort"

// A machine shared with other work drifts: a path measured always first
// or always last gets the drift's side. So the paths take turns, each
// round starting with the next one, and the comparison is made within
// each round and summed up by the median over rounds.

// roundOrder is the order in which the paths run in round r (from 0): the
// list rotated by r.
func roundOrder[T any](paths []T, r int) []T {
	n := len(paths)
	out := make([]T, n)
	for i := range paths {
		out[i] = paths[(r+i)%n]
	}
	return out
}

// median is the middle value, or the mean of the two middle ones; 0 for
// none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
