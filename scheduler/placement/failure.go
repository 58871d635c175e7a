package placement

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Failure explains why a replica could not be placed: every node was
// looked at and each refused it for the reason counted.
type Failure struct {
	Evaluated int            // nodes looked at
	Reasons   map[string]int // reason -> number of nodes
}

// String reads "no node fits: insufficient memory on 5 nodes, node down on
// 1 node", the most common reason first (ties by name).
func (f Failure) String() string {
	if len(f.Reasons) == 0 {
		return "no node fits: there are no nodes"
	}
	type count struct {
		reason string
		nodes  int
	}
	counts := make([]count, 0, len(f.Reasons))
	for reason, nodes := range f.Reasons {
		counts = append(counts, count{reason, nodes})
	}
	slices.SortFunc(counts, func(a, b count) int {
		if c := cmp.Compare(b.nodes, a.nodes); c != 0 {
			return c
		}
		return strings.Compare(a.reason, b.reason)
	})
	var b strings.Builder
	b.WriteString("no node fits: ")
	for i, c := range counts {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.reason)
		b.WriteString(" on ")
		b.WriteString(strconv.Itoa(c.nodes))
		if c.nodes == 1 {
			b.WriteString(" node")
		} else {
			b.WriteString(" nodes")
		}
	}
	return b.String()
}
