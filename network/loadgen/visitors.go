package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Visitors. With Config.Users = N each request due is a visit by one of N
// simulated visitors, picked at random (so visitors come back): it browses
// (Config.Method to Config.URL) and, with probability CheckoutRatio,
// then checks out (POST CheckoutPath on the same host) — unless the page
// it browsed failed (no answer, or 5xx), as a person would leave. Each
// visitor keeps its own cookie jar, so a sticky cookie a proxy sets on its
// first answer is on all its later requests, and sends its id
// ("user-17") in UserHeader when one is named. A visitor makes one visit at
// a time; with few visitors at a high rate a visit waits for the same
// visitor's previous one, and that wait counts in its latency (from its due
// time). Every request, checkouts included, is counted in the usual
// figures; Summary.Users adds the visitors' own.

// Defaults of the visitors' requests.
const (
	DefaultCheckoutPath = "/checkout"
	// DefaultConversionHeader is what the demo workload sets on a checkout
	// that converted.
	DefaultConversionHeader = "X-Conversion"
	// MaxUsers bounds Config.Users (each visitor holds a cookie jar).
	MaxUsers = 1_000_000
)

// UsersSummary is what the visitors of a run did. A conversion is an
// answer carrying the conversion header with a value other than "0" or
// "false".
type UsersSummary struct {
	// Users is how many visitors there were; Visitors how many of them made
	// at least one visit.
	Users    int   `json:"users"`
	Visitors int64 `json:"visitors"`
	// Visits had an outcome (an answer or an error); Checkouts are the
	// checkout requests among them that had one.
	Visits    int64 `json:"visits"`
	Checkouts int64 `json:"checkouts"`
	// Conversions counts converting answers, ConvertedVisitors the distinct
	// visitors who converted at least once.
	Conversions       int64 `json:"conversions"`
	ConvertedVisitors int64 `json:"convertedVisitors"`
	// SwitchedVisitors were answered by more than one version: 0 when each
	// visitor sticks to its variant.
	SwitchedVisitors int64 `json:"switchedVisitors"`
	// ByVersion splits the figures by the version that answered (as
	// Summary.Versions names them).
	ByVersion map[string]VersionVisits `json:"byVersion"`
}

// VersionVisits are one version's share of the visitors' figures.
type VersionVisits struct {
	// Visitors it answered at least once.
	Visitors int64 `json:"visitors"`
	// Checkouts it answered, and how many of them converted.
	Checkouts   int64 `json:"checkouts"`
	Conversions int64 `json:"conversions"`
	// ConvertedVisitors: distinct visitors it converted.
	ConvertedVisitors int64 `json:"convertedVisitors"`
}

// validateUsers checks the visitor fields of c.
func (c Config) validateUsers() error {
	switch {
	case c.Users < 0 || c.Users > MaxUsers:
		return fmt.Errorf("users %d: want 0 (no visitors) up to %d", c.Users, MaxUsers)
	case c.Users == 0 && c.UserHeader != "":
		return fmt.Errorf("user header %q: only with users", c.UserHeader)
	case c.Users == 0 && c.CheckoutRatio != 0:
		return fmt.Errorf("checkout ratio %g: only with users", c.CheckoutRatio)
	case !(c.CheckoutRatio >= 0 && c.CheckoutRatio <= 1):
		return fmt.Errorf("checkout ratio %g: want between 0 and 1", c.CheckoutRatio)
	case c.UserHeader != "" && !httpguts.ValidHeaderFieldName(c.UserHeader):
		return fmt.Errorf("user header %q: not a header name", c.UserHeader)
	case c.ConversionHeader != "" && !httpguts.ValidHeaderFieldName(c.ConversionHeader):
		return fmt.Errorf("conversion header %q: not a header name", c.ConversionHeader)
	}
	if c.CheckoutPath != "" {
		if u, err := url.Parse(c.CheckoutPath); err != nil || !strings.HasPrefix(c.CheckoutPath, "/") || u.Host != "" {
			return fmt.Errorf("checkout path %q: want an absolute path such as /checkout", c.CheckoutPath)
		}
	}
	return nil
}

// converts reports whether a conversion header's value marks a conversion.
func converts(v string) bool {
	v = strings.TrimSpace(v)
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// crowd is a run's visitors. next is called by the run loop only; the
// tallies are guarded by the generator's mu.
type crowd struct {
	rng         *rand.Rand
	ratio       float64
	checkoutURL string
	template    http.Client // a visitor's client, less its jar
	members     []*visitor  // made on their first visit

	visits, checkouts, conversions int64
	visitors, converted, switched  int64
	byVersion                      map[string]*VersionVisits
}

// visitor is one simulated person.
type visitor struct {
	id     string
	client *http.Client // with its own cookie jar
	busy   sync.Mutex   // held for a visit: one at a time

	// Guarded by the generator's mu.
	visited     bool
	versions    []string // that answered it, in order
	convertedBy []string // versions that converted it
}

// visit is one visit due: who, and whether it ends in a checkout.
type visit struct {
	who      *visitor
	checkout bool
}

func newCrowd(cfg Config, client *http.Client) *crowd {
	u, _ := url.Parse(cfg.URL)            // Validate parsed both
	ref, _ := url.Parse(cfg.CheckoutPath) // an absolute path: only the host is u's
	checkout := u.ResolveReference(ref)
	return &crowd{
		rng:         rand.New(cfg.Rand),
		ratio:       cfg.CheckoutRatio,
		checkoutURL: checkout.String(),
		template:    *client,
		members:     make([]*visitor, cfg.Users),
		byVersion:   map[string]*VersionVisits{},
	}
}

// next draws the next visit: its visitor, and whether it checks out.
func (c *crowd) next() *visit {
	i := c.rng.IntN(len(c.members))
	who := c.members[i]
	if who == nil {
		jar, _ := cookiejar.New(nil) // never fails without options
		client := c.template
		client.Jar = jar
		who = &visitor{id: "user-" + strconv.Itoa(i+1), client: &client}
		c.members[i] = who
	}
	return &visit{who: who, checkout: c.ratio > 0 && c.rng.Float64() < c.ratio}
}

// visit makes one visit due at due: browse, then maybe check out.
func (g *generator) visit(ctx context.Context, v *visit, due time.Time) {
	who := v.who
	who.busy.Lock()
	defer who.busy.Unlock()
	c := call{client: who.client, method: g.cfg.Method, url: g.cfg.URL, userID: who.id}
	browse := g.send(ctx, c, due)
	if !g.recordVisit(ctx, who, browse, false) || !v.checkout {
		return
	}
	if browse.status == 0 || browse.status >= 500 {
		return // the page failed: this visitor leaves
	}
	c.method, c.url = http.MethodPost, g.visitors.checkoutURL
	g.recordVisit(ctx, who, g.send(ctx, c, g.clk.Now()), true)
}

// recordVisit adds one request of a visit to the tallies; it reports false
// when the request has no outcome (the caller's context ended).
func (g *generator) recordVisit(ctx context.Context, who *visitor, o outcome, checkout bool) bool {
	if o.status == 0 && ctx.Err() != nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	version := g.tallyLocked(o)
	c := g.visitors
	if checkout {
		c.checkouts++
	} else {
		c.visits++
		if !who.visited {
			who.visited = true
			c.visitors++
		}
	}
	var byVersion *VersionVisits
	if version != "" {
		byVersion = c.byVersion[version]
		if byVersion == nil {
			byVersion = &VersionVisits{}
			c.byVersion[version] = byVersion
		}
		if !slices.Contains(who.versions, version) {
			who.versions = append(who.versions, version)
			byVersion.Visitors++
			if len(who.versions) == 2 {
				c.switched++
			}
		}
		if checkout {
			byVersion.Checkouts++
		}
	}
	if o.converted {
		c.conversions++
		if len(who.convertedBy) == 0 {
			c.converted++
		}
		if byVersion != nil {
			byVersion.Conversions++
			if !slices.Contains(who.convertedBy, version) {
				byVersion.ConvertedVisitors++
			}
		}
		if !slices.Contains(who.convertedBy, version) {
			who.convertedBy = append(who.convertedBy, version)
		}
	}
	return true
}

// summaryLocked is the visitors' figures, with the generator's mu held.
func (c *crowd) summaryLocked() *UsersSummary {
	s := &UsersSummary{
		Users:             len(c.members),
		Visitors:          c.visitors,
		Visits:            c.visits,
		Checkouts:         c.checkouts,
		Conversions:       c.conversions,
		ConvertedVisitors: c.converted,
		SwitchedVisitors:  c.switched,
		ByVersion:         make(map[string]VersionVisits, len(c.byVersion)),
	}
	for v, f := range c.byVersion {
		s.ByVersion[v] = *f
	}
	return s
}
