package placement

// spreadBetter: anti-affinity first (fewest replicas of the service), then
// the lowest utilisation, then the earliest node. Counting replicas first is
// what puts exactly two on each of five equal nodes for ten replicas, even
// when the nodes are of different sizes; utilisation only chooses among
// nodes that hold as many.
func spreadBetter(a, b *rank) bool {
	if a.replicas != b.replicas {
		return a.replicas < b.replicas
	}
	if a.util != b.util {
		return a.util < b.util
	}
	return a.index < b.index
}
