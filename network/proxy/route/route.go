package route

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"flotilla/api"
)

// ErrNoBackend means that no rule matched and the split names no revision
// with a positive weight.
var ErrNoBackend = errors.New("no backend: no rule matched and the split is empty")

// Request is what the route table looks at in a request.
type Request struct {
	// Header holds the request's headers with keys in canonical form, as
	// http.Header keeps them (an http.Header can be assigned directly).
	Header map[string][]string
	// Cookies maps cookie names to values (the first value of a repeated
	// name). It is only consulted when Compiled.NeedsCookies says so.
	Cookies map[string]string
}

// Cookie is a sticky cookie the proxy sets on the response.
type Cookie struct {
	Name  string
	Value string
	// User marks an A/B user-key cookie: set whichever revision answers,
	// and kept for a year (a sticky cookie lasts the session).
	User bool
}

// Decision is where one request goes.
type Decision struct {
	// Backend is the revision that serves the request.
	Backend int
	// Rule is the index of the rule that matched, or -1 when the split
	// (or a sticky cookie) chose.
	Rule int
	// SetCookie is the sticky cookie to set on the response; nil if none.
	SetCookie *Cookie
	// Mirrors are the revisions that get a copy of the request.
	Mirrors []int
	// AB is set when the table runs an A/B experiment (ab.go); User is
	// then the salted hash of the request's user key.
	AB   bool
	User uint64
}

// Compiled is a checked route table, ready for Pick. It is immutable and
// safe for concurrent use.
type Compiled struct {
	rules   []rule
	split   []weighted // positive weights only, in table order
	total   float64    // sum of the split's weights
	sticky  string     // cookie name; empty when not sticky
	mirrors []mirror
	cookies bool // a rule or stickiness reads cookies
	headers bool // a rule reads headers
	ab      *abCompiled
}

type rule struct {
	header  bool // else cookie
	name    string
	exact   string
	prefix  string
	re      *regexp.Regexp
	backend int
}

type weighted struct {
	backend int
	upTo    float64 // cumulative weight including this backend
}

type mirror struct {
	api.Mirror
	fraction float64
}

// Compile checks t and compiles its regular expressions. A nil table
// compiles to one that never picks a backend. Regular expressions must match
// the whole value, as Envoy's and Istio's do.
func Compile(t *api.RouteTable) (*Compiled, error) {
	c := &Compiled{}
	if t == nil {
		return c, nil
	}
	for i, r := range t.Rules {
		f := fmt.Sprintf("rules[%d]", i)
		m := r.Match
		if (m.Header == nil) == (m.Cookie == nil) {
			return nil, fmt.Errorf("%s.match: exactly one of header, cookie", f)
		}
		cr := rule{header: m.Header != nil, backend: r.Backend}
		c.headers = c.headers || cr.header
		vm, what := m.Header, "header"
		if !cr.header {
			vm, what = m.Cookie, "cookie"
			c.cookies = true
		}
		vf := f + ".match." + what
		if vm.Name == "" {
			return nil, fmt.Errorf("%s.name: required", vf)
		}
		cr.name = vm.Name
		if cr.header {
			cr.name = CanonicalHeaderKey(vm.Name)
		}
		set := 0
		for _, v := range []string{vm.Exact, vm.Prefix, vm.Regex} {
			if v != "" {
				set++
			}
		}
		if set != 1 {
			return nil, fmt.Errorf("%s: exactly one of exact, prefix, regex", vf)
		}
		cr.exact, cr.prefix = vm.Exact, vm.Prefix
		if vm.Regex != "" {
			re, err := regexp.Compile(`^(?:` + vm.Regex + `)$`)
			if err != nil {
				return nil, fmt.Errorf("%s.regex: %w", vf, err)
			}
			cr.re = re
		}
		c.rules = append(c.rules, cr)
	}
	for i, w := range t.Split {
		switch {
		case w.Weight < 0:
			return nil, fmt.Errorf("split[%d].weight: must not be negative, got %d", i, w.Weight)
		case w.Weight == 0:
			continue // never chosen
		}
		c.total += float64(w.Weight)
		c.split = append(c.split, weighted{backend: w.Backend, upTo: c.total})
	}
	if t.Sticky != nil {
		if t.Sticky.Cookie == "" {
			return nil, errors.New("sticky.cookie: required")
		}
		c.sticky = t.Sticky.Cookie
		c.cookies = true
	}
	ab, err := compileAB(t.AB)
	if err != nil {
		return nil, err
	}
	if ab != nil {
		c.ab, c.cookies = ab, true
		c.headers = c.headers || ab.header != ""
	}
	for i, m := range t.Mirrors {
		p := float64(m.Percent)
		if math.IsNaN(p) || p < 0 || p > 100 {
			return nil, fmt.Errorf("mirrors[%d].percent: must be between 0%% and 100%%, got %s", i, m.Percent)
		}
		c.mirrors = append(c.mirrors, mirror{Mirror: m, fraction: m.Percent.Fraction()})
	}
	return c, nil
}

// Pick compiles t and picks a backend for req: a convenience for one-off
// decisions. It returns ErrNoBackend when there is nothing to pick.
func Pick(t *api.RouteTable, req Request, rnd func() float64) (Decision, error) {
	c, err := Compile(t)
	if err != nil {
		return Decision{}, err
	}
	d, ok := c.Pick(req, rnd)
	if !ok {
		return Decision{}, ErrNoBackend
	}
	return d, nil
}

// Pick evaluates the table for one request. Rules are tried in order and
// the first match wins; otherwise, in an A/B experiment, the hash of the
// request's user key picks the variant (ab.go); otherwise, when the table is sticky and the
// request's cookie names a revision still in the split, that revision keeps
// it; otherwise the split draws by weight and, when sticky, the decision
// sets the cookie. Each mirror then fires with its percentage (a mirror of
// the chosen revision itself never does). rnd yields uniform numbers in
// [0, 1). It reports false when no rule matched and the split is empty.
func (c *Compiled) Pick(req Request, rnd func() float64) (Decision, bool) {
	d := Decision{Rule: -1}
	chosen := false
	if c.ab != nil {
		d.AB = true
		d.User, d.SetCookie = c.ab.user(req, rnd)
	}
	for i := range c.rules {
		if c.rules[i].matches(req) {
			d.Backend, d.Rule, chosen = c.rules[i].backend, i, true
			break
		}
	}
	if !chosen && c.ab != nil {
		d.Backend, chosen = c.ab.variant(d.User), true
	}
	if !chosen && c.sticky != "" {
		if rev, ok := ParseStickyValue(req.Cookies[c.sticky]); ok && c.InSplit(rev) {
			d.Backend, chosen = rev, true
		}
	}
	if !chosen {
		if len(c.split) == 0 {
			return Decision{Rule: -1}, false
		}
		d.Backend = c.draw(rnd)
		if c.sticky != "" {
			d.SetCookie = &Cookie{Name: c.sticky, Value: StickyValue(d.Backend)}
		}
	}
	for i := range c.mirrors {
		m := &c.mirrors[i]
		if m.Backend == d.Backend || m.fraction <= 0 {
			continue
		}
		if m.fraction >= 1 || rnd() < m.fraction {
			d.Mirrors = append(d.Mirrors, m.Backend)
		}
	}
	return d, true
}

// draw picks a backend of the split by weight.
func (c *Compiled) draw(rnd func() float64) int {
	if len(c.split) == 1 {
		return c.split[0].backend
	}
	x := rnd() * c.total
	for _, w := range c.split {
		if x < w.upTo {
			return w.backend
		}
	}
	return c.split[len(c.split)-1].backend // rnd returned 1 or rounding
}

// InSplit reports whether rev has a positive weight in the split.
func (c *Compiled) InSplit(rev int) bool {
	for _, w := range c.split {
		if w.backend == rev {
			return true
		}
	}
	return false
}

// NeedsCookies reports whether Pick reads Request.Cookies, so that callers
// parse cookies only when they matter.
func (c *Compiled) NeedsCookies() bool { return c.cookies }

// NeedsHeaders reports whether Pick reads Request.Header, so that callers
// gather headers only when they matter.
func (c *Compiled) NeedsHeaders() bool { return c.headers }

// Mirror returns the mirror of revision rev, with its comparison settings.
func (c *Compiled) Mirror(rev int) (api.Mirror, bool) {
	for _, m := range c.mirrors {
		if m.Backend == rev {
			return m.Mirror, true
		}
	}
	return api.Mirror{}, false
}

// Empty reports whether the table can never pick a backend.
func (c *Compiled) Empty() bool { return len(c.rules) == 0 && len(c.split) == 0 }

func (r *rule) matches(req Request) bool {
	if r.header {
		for _, v := range req.Header[r.name] {
			if r.value(v) {
				return true
			}
		}
		return false
	}
	v, ok := req.Cookies[r.name]
	return ok && r.value(v)
}

func (r *rule) value(v string) bool {
	switch {
	case r.re != nil:
		return r.re.MatchString(v)
	case r.prefix != "":
		return strings.HasPrefix(v, r.prefix)
	default:
		return v == r.exact
	}
}

// StickyValue is the sticky cookie's value for revision rev: "r3".
func StickyValue(rev int) string { return "r" + strconv.Itoa(rev) }

// ParseStickyValue reads a sticky cookie's value back into a revision.
func ParseStickyValue(v string) (int, bool) {
	digits, ok := strings.CutPrefix(v, "r")
	if !ok || digits == "" || digits[0] == '+' || digits[0] == '-' {
		return 0, false
	}
	rev, err := strconv.Atoi(digits)
	return rev, err == nil
}

// CanonicalHeaderKey returns the canonical form of a header name
// ("x-group" -> "X-Group"), as net/textproto does; names with characters
// outside a token are returned unchanged.
func CanonicalHeaderKey(s string) string {
	upper := true
	b := []byte(s)
	for i, c := range b {
		if !isTokenChar(c) {
			return s
		}
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - ('a' - 'A')
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
	return string(b)
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
