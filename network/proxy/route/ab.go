package route

import (
	"errors"
	"hash/fnv"
	"math"
	"strconv"

	"flotilla/api"
)

// A/B experiments. A table with an ABRoute identifies the user behind each
// request by a key: the user header's value when the table names one and
// the request has it, else the experiment's cookie, which is made (from
// rnd) and set on the answer when the request lacks it. The key's salted
// hash decides the variant of a request no rule matched: B when it falls
// in B's share of the hash range. The hash depends on nothing but the salt
// and the key, so every proxy, restarted or not, gives a user the same
// variant.

// UserCookieMaxAge is how long a browser keeps the A/B user cookie.
const UserCookieMaxAge = 365 * 24 * 60 * 60

type abCompiled struct {
	salt   string
	a, b   int
	bUpTo  uint64 // hashes below it get B
	allB   bool   // split 100%: every hash gets B
	cookie string
	header string // canonical; empty: the cookie only
}

func compileAB(r *api.ABRoute) (*abCompiled, error) {
	if r == nil {
		return nil, nil
	}
	switch {
	case r.Salt == "":
		return nil, errors.New("ab.salt: required")
	case r.Cookie == "":
		return nil, errors.New("ab.cookie: required")
	case math.IsNaN(float64(r.Split)) || r.Split < 0 || r.Split > 100:
		return nil, errors.New("ab.split: must be between 0% and 100%, got " + r.Split.String())
	}
	c := &abCompiled{salt: r.Salt, a: r.A, b: r.B, cookie: r.Cookie}
	if r.UserHeader != "" {
		c.header = CanonicalHeaderKey(r.UserHeader)
	}
	if f := r.Split.Fraction(); f >= 1 {
		c.allB = true
	} else {
		c.bUpTo = uint64(math.Ldexp(f, 64))
	}
	return c, nil
}

// user is the request's user-key hash, and the cookie to set when the key
// had to be made.
func (c *abCompiled) user(req Request, rnd func() float64) (uint64, *Cookie) {
	if c.header != "" {
		if vs := req.Header[c.header]; len(vs) > 0 && vs[0] != "" {
			return UserHash(c.salt, vs[0]), nil
		}
	}
	if v := req.Cookies[c.cookie]; v != "" {
		return UserHash(c.salt, v), nil
	}
	id := NewUserID(rnd)
	return UserHash(c.salt, id), &Cookie{Name: c.cookie, Value: id, User: true}
}

// variant is the revision a user hash gets when no rule decided.
func (c *abCompiled) variant(hash uint64) int {
	if c.allB || hash < c.bUpTo {
		return c.b
	}
	return c.a
}

// UserHash is the salted hash of a user key: FNV-1a over the salt and the
// key, then splitmix64's finaliser so that every bit depends on every
// input byte. It is part of the contract between proxies (a user's variant
// must not depend on which proxy or version computed it): never change it.
func UserHash(salt, key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(salt))
	h.Write([]byte{0})
	h.Write([]byte(key))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// NewUserID makes a user key for the A/B cookie: 16 hex digits from two
// draws of rnd.
func NewUserID(rnd func() float64) string {
	hi := uint64(rnd() * (1 << 32))
	lo := uint64(rnd() * (1 << 32))
	s := strconv.FormatUint(hi<<32|lo, 16)
	for len(s) < 16 {
		s = "0" + s
	}
	return s
}
