package placement

// binpackBetter: the highest utilisation first, so that nodes fill one
// after the other and the rest stay empty for large replicas; fewer
// replicas of the service only break ties, then the earliest node.
func binpackBetter(a, b *rank) bool {
	if a.util != b.util {
		return a.util > b.util
	}
	if a.replicas != b.replicas {
		return a.replicas < b.replicas
	}
	return a.index < b.index
}
