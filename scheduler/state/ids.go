package state

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// DeriveID makes a 16-hex-digit ID from a seed and two numbers. IDs that
// the FSM or a scheduler worker creates must be reproducible (every server
// applies the same log; a replayed evaluation makes the same plan), and well
// mixed so that a short prefix tells them apart, as Nomad's IDs do.
func DeriveID(seed string, a, b uint64) string {
	h := sha256.New()
	h.Write([]byte(seed))
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], a)
	binary.BigEndian.PutUint64(n[8:], b)
	h.Write(n[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}
