package sketch

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// Counts stay within four standard errors of the truth from a handful to
// a million distinct hashes (seeded, so the run replays).
func TestCountIsWithinItsErrorOfTheTruth(t *testing.T) {
	for _, n := range []int{0, 1, 2, 10, 100, 1000, 4000, 20000, 50000, 200000, 1000000} {
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		var h HyperLogLog
		for range n {
			h.Add(rng.Uint64())
		}
		got := float64(h.Count())
		// Linear counting below 2.5m, HyperLogLog's own error above.
		sigma := math.Max(float64(n)/math.Sqrt(2*Registers), RelativeError*float64(n))
		if n > 40000 {
			sigma = RelativeError * float64(n)
		}
		if math.Abs(got-float64(n)) > 4*sigma+0.5 {
			t.Errorf("%d distinct hashes counted as %.0f, want within 4σ (%.1f)", n, got, 4*sigma)
		}
	}
}

func TestAddingAHashAgainCountsNothing(t *testing.T) {
	var h HyperLogLog
	for range 3 {
		for i := range uint64(500) {
			h.Add(i)
		}
	}
	if got := h.Count(); got < 490 || got > 510 {
		t.Errorf("500 hashes added three times counted %d, want about 500", got)
	}
}

// Merging is the union: idempotent, commutative, and equal to adding
// everything to one sketch.
func TestMergeIsTheUnion(t *testing.T) {
	var a, b, all HyperLogLog
	for i := range uint64(3000) {
		all.Add(i)
		if i < 2000 {
			a.Add(i)
		}
		if i >= 1000 {
			b.Add(i)
		}
	}
	var ab, ba HyperLogLog
	ab.Merge(&a)
	ab.Merge(&b)
	ab.Merge(&b) // again: nothing new
	ba.Merge(&b)
	ba.Merge(&a)
	if !bytes.Equal(ab.reg, all.reg) || !bytes.Equal(ba.reg, all.reg) {
		t.Fatal("a ∪ b differs from the sketch of everything")
	}
	var empty HyperLogLog
	ab.Merge(&empty)
	ab.Merge(nil)
	if !bytes.Equal(ab.reg, all.reg) {
		t.Fatal("merging an empty sketch changed it")
	}
}

func TestEncodingRoundTripsAndPicksTheShorterForm(t *testing.T) {
	for _, n := range []int{0, 1, 300, 5000, 100000} {
		var h HyperLogLog
		for i := range n {
			h.Add(uint64(i) * 0x9e3779b97f4a7c15)
		}
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxEncodedSize {
			t.Errorf("%d hashes: %d bytes, more than %d", n, len(b), MaxEncodedSize)
		}
		switch {
		case n == 0 && len(b) != 0:
			t.Errorf("empty sketch encoded as %d bytes, want none", len(b))
		case n == 300 && (b[0] != encodingSparse || len(b) > 4*300):
			t.Errorf("300 hashes: %d bytes in form %q, want a sparse form under 1200 bytes", len(b), b[0])
		case n == 100000 && b[0] != encodingDense:
			t.Errorf("100000 hashes: form %q, want dense", b[0])
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%d hashes: decode: %v", n, err)
		}
		if got.Count() != h.Count() || (n > 0 && !bytes.Equal(got.reg, h.reg)) {
			t.Errorf("%d hashes: decoded %d, encoded %d", n, got.Count(), h.Count())
		}
	}
}

func TestDecodeRefusesWhatMarshalDidNotMake(t *testing.T) {
	var h HyperLogLog
	h.Add(1)
	h.Add(2)
	good, _ := h.MarshalBinary()
	dense := append([]byte{encodingDense}, make([]byte, Registers)...)
	dense[5] = maxRank + 1
	for name, b := range map[string][]byte{
		"unknown form":     {'x', 1},
		"short dense":      {encodingDense, 1, 2},
		"rank too high":    dense,
		"truncated sparse": good[:len(good)-1],
		"trailing bytes":   append(append([]byte(nil), good...), 0),
		"index past end":   {encodingSparse, 1, 0xff, 0xff, 0x03, 1},
		"repeated index":   {encodingSparse, 2, 5, 1, 0, 1},
	} {
		if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
}
