package sketch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Precision is the number of hash bits that pick a register.
const Precision = 14

// Registers is the number of registers: 16384, one byte each.
const Registers = 1 << Precision

// maxRank is the largest value a register can hold: the position of the
// first one bit in the 50 hash bits left after the register index, plus 1.
const maxRank = 64 - Precision + 1

// RelativeError is the standard error of a count above about 2.5 ×
// Registers (1.04/√Registers); below that the count is read by linear
// counting, whose standard error is about 0.6% (±0.6 at 100 distinct
// hashes, ±23 at 4,000).
const RelativeError = 0.0081

// HyperLogLog estimates how many distinct 64-bit hashes were added. The
// zero value is empty and holds no registers until the first Add or Merge.
type HyperLogLog struct {
	reg []uint8 // nil or Registers long
}

// mix is splitmix64's finaliser: the register index and rank come from
// all of the hash's bits, however the caller's hash was made (the A/B
// variant is drawn from the same user hash, and must not correlate with
// the rank).
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Add counts hash.
func (h *HyperLogLog) Add(hash uint64) {
	x := mix(hash)
	idx := x >> (64 - Precision)
	// A guard bit keeps the rank at most maxRank.
	rank := uint8(bits.LeadingZeros64(x<<Precision|1<<(Precision-1)) + 1)
	if h.reg == nil {
		h.reg = make([]uint8, Registers)
	}
	if rank > h.reg[idx] {
		h.reg[idx] = rank
	}
}

// Merge makes h the sketch of the union of h and o. It is idempotent and
// commutative: merging the same sketch twice counts nothing twice.
func (h *HyperLogLog) Merge(o *HyperLogLog) {
	if o == nil || o.reg == nil {
		return
	}
	if h.reg == nil {
		h.reg = make([]uint8, Registers)
	}
	for i, v := range o.reg {
		if v > h.reg[i] {
			h.reg[i] = v
		}
	}
}

// Empty reports whether nothing was added.
func (h *HyperLogLog) Empty() bool {
	for _, v := range h.reg {
		if v != 0 {
			return false
		}
	}
	return true
}

// Count is the estimated number of distinct hashes added: HyperLogLog's
// harmonic mean, or linear counting while it is below 2.5 × Registers and
// some register is still empty (Flajolet et al., 2007). With 64-bit hashes
// no large-range correction is needed.
func (h *HyperLogLog) Count() uint64 {
	if h.reg == nil {
		return 0
	}
	m := float64(Registers)
	sum, zeros := 0.0, 0
	for _, v := range h.reg {
		sum += math.Ldexp(1, -int(v))
		if v == 0 {
			zeros++
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return uint64(math.Round(e))
}

// Encodings: an empty sketch is no bytes; a sparse one lists its non-zero
// registers (uvarint gaps between indexes, each followed by the value); a
// dense one is every register. MarshalBinary picks the shorter.
const (
	encodingSparse = 's'
	encodingDense  = 'd'
)

// MaxEncodedSize bounds MarshalBinary's output.
const MaxEncodedSize = 1 + Registers

// MarshalBinary encodes h (see the encodings above).
func (h *HyperLogLog) MarshalBinary() ([]byte, error) {
	n := 0
	for _, v := range h.reg {
		if v != 0 {
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	// A gap takes at most 2 bytes (14 bits), its value 1.
	if 1+binary.MaxVarintLen16+3*n < MaxEncodedSize {
		out := make([]byte, 0, 1+binary.MaxVarintLen16+3*n)
		out = append(out, encodingSparse)
		out = binary.AppendUvarint(out, uint64(n))
		last := 0
		for i, v := range h.reg {
			if v == 0 {
				continue
			}
			out = binary.AppendUvarint(out, uint64(i-last))
			out = append(out, v)
			last = i
		}
		return out, nil
	}
	out := make([]byte, 0, MaxEncodedSize)
	out = append(out, encodingDense)
	return append(out, h.reg...), nil
}

// ErrCorrupt is returned for bytes MarshalBinary did not make.
var ErrCorrupt = errors.New("corrupt sketch")

// UnmarshalBinary decodes what MarshalBinary encoded.
func (h *HyperLogLog) UnmarshalBinary(b []byte) error {
	h.reg = nil
	if len(b) == 0 {
		return nil
	}
	reg := make([]uint8, Registers)
	switch b[0] {
	case encodingDense:
		if len(b) != 1+Registers {
			return fmt.Errorf("%w: dense encoding of %d bytes, want %d", ErrCorrupt, len(b), 1+Registers)
		}
		copy(reg, b[1:])
	case encodingSparse:
		rest := b[1:]
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > Registers {
			return fmt.Errorf("%w: sparse count", ErrCorrupt)
		}
		rest = rest[k:]
		idx := uint64(0)
		for i := uint64(0); i < n; i++ {
			gap, k := binary.Uvarint(rest)
			if k <= 0 || len(rest) < k+1 || (i > 0 && gap == 0) {
				return fmt.Errorf("%w: sparse register %d", ErrCorrupt, i)
			}
			idx += gap
			if idx >= Registers {
				return fmt.Errorf("%w: register index %d", ErrCorrupt, idx)
			}
			reg[idx] = rest[k]
			rest = rest[k+1:]
		}
		if len(rest) != 0 {
			return fmt.Errorf("%w: %d bytes after the registers", ErrCorrupt, len(rest))
		}
	default:
		return fmt.Errorf("%w: unknown encoding %q", ErrCorrupt, b[0])
	}
	for i, v := range reg {
		if v > maxRank {
			return fmt.Errorf("%w: register %d holds %d, more than %d", ErrCorrupt, i, v, maxRank)
		}
	}
	h.reg = reg
	return nil
}

// Decode is UnmarshalBinary into a new sketch.
func Decode(b []byte) (*HyperLogLog, error) {
	h := &HyperLogLog{}
	if err := h.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return h, nil
}
