package seeded

import "testing"

func TestSourcesReplayAndDifferByPurpose(t *testing.T) {
	if Source(0, "n1") != nil {
		t.Fatal("seed 0 gave a source: callers would never draw at random")
	}
	draw := func(seed uint64, purpose ...string) [4]uint64 {
		s := Source(seed, purpose...)
		return [4]uint64{s.Uint64(), s.Uint64(), s.Uint64(), s.Uint64()}
	}
	if draw(7, "n1", "proxy") != draw(7, "n1", "proxy") {
		t.Fatal("one seed and purpose gave two sequences")
	}
	if draw(7, "n1", "proxy") == draw(7, "n2", "proxy") {
		t.Fatal("two purposes gave one sequence")
	}
	if draw(7, "n1") == draw(8, "n1") {
		t.Fatal("two seeds gave one sequence")
	}
}
