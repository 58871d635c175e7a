package loadgen

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// shop is a target as an A/B proxy in front of the demo app looks to
// visitors: a visitor without the "visitor" cookie gets one (a new id per
// answer that sets it), its variant follows from the cookie (or, when
// sticky is false, from a coin per request), GET / answers the variant's
// JSON, POST /checkout converts every convertEvery-th checkout of a
// variant. It remembers what it saw.
type shop struct {
	*httptest.Server
	sticky       bool
	convertEvery int
	failBrowse   bool

	mu          sync.Mutex
	issued      int                        // cookies set
	byUser      map[string]map[string]bool // user header → cookies it came with
	visitsBy    map[string]int             // user header → GET /
	checkouts   map[string]int             // variant → POST /checkout
	conversions map[string]int             // variant → converting answers
	methods     map[string]int             // "METHOD /path"
	coin        int
}

func newShop(t *testing.T, sticky bool) *shop {
	s := &shop{sticky: sticky, convertEvery: 4, byUser: map[string]map[string]bool{}, visitsBy: map[string]int{},
		checkouts: map[string]int{}, conversions: map[string]int{}, methods: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *shop) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.methods[r.Method+" "+r.URL.Path]++
	cookie := ""
	if c, err := r.Cookie("visitor"); err == nil {
		cookie = c.Value
	} else {
		s.issued++
		cookie = fmt.Sprintf("c%d", s.issued)
		http.SetCookie(w, &http.Cookie{Name: "visitor", Value: cookie, Path: "/"})
	}
	user := r.Header.Get("X-User-Id")
	if s.byUser[user] == nil {
		s.byUser[user] = map[string]bool{}
	}
	s.byUser[user][cookie] = true
	h := fnv.New32a()
	h.Write([]byte(cookie))
	variant := []string{"v1", "v2"}[h.Sum32()%2]
	if !s.sticky {
		s.coin++
		variant = []string{"v1", "v2"}[s.coin%2]
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.Method + " " + r.URL.Path {
	case "GET /":
		s.visitsBy[user]++
		if s.failBrowse {
			w.WriteHeader(http.StatusInternalServerError)
		}
		fmt.Fprintf(w, `{"version":%q}`, variant)
	case "POST /checkout":
		s.checkouts[variant]++
		if s.checkouts[variant]%s.convertEvery == 0 {
			s.conversions[variant]++
			w.Header().Set(DefaultConversionHeader, "1")
		} else if s.checkouts[variant]%2 == 1 {
			w.Header().Set(DefaultConversionHeader, "0") // not a conversion
		}
		fmt.Fprintf(w, `{"version":%q}`, variant)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestUsersKeepTheirCookiesAndTheirIDs(t *testing.T) {
	t.Parallel()
	s := newShop(t, true)
	sum := run(t, Config{URL: s.URL + "/", Rate: 200, Duration: 500 * time.Millisecond, Users: 20,
		UserHeader: "X-User-Id", CheckoutRatio: 0.3, Rand: rand.NewPCG(1, 2)})
	u := sum.Users
	if u == nil {
		t.Fatalf("no users figures in %+v", sum)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Users != 20 || u.Visits != 100 || u.Visitors < 15 || u.Visitors > 20 {
		t.Fatalf("users %d, visits %d, visitors %d: want 20 users making 100 visits, most of them visiting", u.Users, u.Visits, u.Visitors)
	}
	// One cookie per visitor, kept by its jar: a cookie per visit would
	// mean the jar was lost.
	if int64(s.issued) != u.Visitors {
		t.Errorf("the shop set %d cookies for %d visitors over %d visits: each visitor keeps its first", s.issued, u.Visitors, u.Visits)
	}
	for user, cookies := range s.byUser {
		if !strings.HasPrefix(user, "user-") || len(cookies) != 1 {
			t.Errorf("user header %q came with cookies %v, want one id per visitor, always with its cookie", user, cookies)
		}
	}
	if int64(len(s.byUser)) != u.Visitors {
		t.Errorf("%d user ids seen, %d visitors", len(s.byUser), u.Visitors)
	}
	checkouts := int64(s.methods["POST /checkout"])
	if u.Checkouts != checkouts || checkouts < 15 || checkouts > 45 {
		t.Errorf("checkouts: summary %d, shop %d; want about 0.3 × 100", u.Checkouts, checkouts)
	}
	if sum.Requests != u.Visits+u.Checkouts || sum.Errors != 0 {
		t.Errorf("%d requests, %d errors: want the %d visits and %d checkouts, no error", sum.Requests, sum.Errors, u.Visits, u.Checkouts)
	}
	conversions := int64(s.conversions["v1"] + s.conversions["v2"])
	if u.Conversions != conversions || conversions == 0 {
		t.Errorf("conversions: summary %d, shop %d (an X-Conversion of 0 is not one)", u.Conversions, conversions)
	}
	if u.ConvertedVisitors == 0 || u.ConvertedVisitors > u.Conversions {
		t.Errorf("%d converted visitors for %d conversions", u.ConvertedVisitors, u.Conversions)
	}
	if u.SwitchedVisitors != 0 {
		t.Errorf("%d visitors switched variants behind a sticky shop", u.SwitchedVisitors)
	}
	var visitors, byVersionCheckouts, byVersionConversions int64
	for v, f := range u.ByVersion {
		visitors += f.Visitors
		byVersionCheckouts += f.Checkouts
		byVersionConversions += f.Conversions
		if f.Checkouts != int64(s.checkouts[v]) || f.Conversions != int64(s.conversions[v]) {
			t.Errorf("%s: %+v, shop saw %d checkouts and %d conversions", v, f, s.checkouts[v], s.conversions[v])
		}
	}
	if visitors != u.Visitors || byVersionCheckouts != u.Checkouts || byVersionConversions != u.Conversions || len(u.ByVersion) != 2 {
		t.Errorf("by version %+v does not add up to %+v", u.ByVersion, u)
	}
}

func TestUsersWithoutStickinessSwitchVariants(t *testing.T) {
	t.Parallel()
	s := newShop(t, false)
	sum := run(t, Config{URL: s.URL, Rate: 200, Duration: 300 * time.Millisecond, Users: 5, Rand: rand.NewPCG(3, 4)})
	u := sum.Users
	if u.SwitchedVisitors == 0 || u.SwitchedVisitors > u.Visitors {
		t.Errorf("%d of %d visitors switched when every answer flips a coin", u.SwitchedVisitors, u.Visitors)
	}
	if u.Checkouts != 0 || s.methods["POST /checkout"] != 0 {
		t.Errorf("checkout ratio 0 made %d checkouts", u.Checkouts)
	}
}

func TestUsersLeaveWhenThePageFails(t *testing.T) {
	t.Parallel()
	s := newShop(t, true)
	s.failBrowse = true
	sum := run(t, Config{URL: s.URL, Rate: 100, Duration: 200 * time.Millisecond, Users: 3, CheckoutRatio: 1, Rand: rand.NewPCG(5, 6)})
	if sum.Users.Visits != 20 || sum.Users.Checkouts != 0 || s.methods["POST /checkout"] != 0 || sum.ErrorKinds[ErrorStatus5xx] != 20 {
		t.Errorf("summary %+v (users %+v): a visitor whose page failed does not check out", sum, sum.Users)
	}
}

func TestUsersAreReplayedBySeed(t *testing.T) {
	t.Parallel()
	visits := func(seed uint64) string {
		s := newShop(t, true)
		run(t, Config{URL: s.URL, Rate: 200, Duration: 250 * time.Millisecond, Users: 10, UserHeader: "X-User-Id",
			CheckoutRatio: 0.5, Rand: rand.NewPCG(seed, 0)})
		s.mu.Lock()
		defer s.mu.Unlock()
		return fmt.Sprint(s.visitsBy, s.methods)
	}
	if a, b := visits(7), visits(7); a != b {
		t.Errorf("the same seed made different visits:\n%s\n%s", a, b)
	}
	if a, b := visits(7), visits(8); a == b {
		t.Errorf("two seeds made the same visits: %s", a)
	}
}

func TestUsersCheckoutPathKeepsTheHost(t *testing.T) {
	t.Parallel()
	got := make(chan string, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.Host + " " + r.URL.RequestURI()
	}))
	defer srv.Close()
	h := http.Header{}
	h.Set("Host", "shop.example")
	run(t, Config{URL: srv.URL + "/catalog?page=2", Headers: h, Rate: 50, Duration: 100 * time.Millisecond, Users: 1,
		CheckoutRatio: 1, CheckoutPath: "/buy?now=1", Rand: rand.NewPCG(1, 1)})
	close(got)
	seen := map[string]int{}
	for s := range got {
		seen[s]++
	}
	if seen["GET shop.example /catalog?page=2"] != 5 || seen["POST shop.example /buy?now=1"] != 5 {
		t.Errorf("requests %v, want 5 visits of /catalog?page=2 each followed by POST /buy?now=1, all to shop.example", seen)
	}
}

func TestUsersConfigValidationNamesTheField(t *testing.T) {
	ok := Config{URL: "http://127.0.0.1:1/", Rate: 1, Duration: time.Second, Users: 10, CheckoutRatio: 0.3, UserHeader: "X-User-Id"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"negative users", func(c *Config) { c.Users = -1 }, "users -1"},
		{"too many users", func(c *Config) { c.Users = MaxUsers + 1 }, "users"},
		{"header without users", func(c *Config) { c.Users, c.CheckoutRatio = 0, 0 }, "user header"},
		{"ratio without users", func(c *Config) { c.Users, c.UserHeader = 0, "" }, "checkout ratio"},
		{"ratio above 1", func(c *Config) { c.CheckoutRatio = 1.5 }, "checkout ratio"},
		{"bad header", func(c *Config) { c.UserHeader = "X User" }, "user header"},
		{"bad conversion header", func(c *Config) { c.ConversionHeader = "X:C" }, "conversion header"},
		{"relative checkout path", func(c *Config) { c.CheckoutPath = "checkout" }, "checkout path"},
		{"checkout URL", func(c *Config) { c.CheckoutPath = "//elsewhere/checkout" }, "checkout path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			if _, err := Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestConversionHeaderValues(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "yes": true, "order-17": true, "": false, "0": false, "false": false, " FALSE ": false} {
		if converts(v) != want {
			t.Errorf("converts(%q) = %v, want %v", v, !want, want)
		}
	}
}
