package route

import (
	"fmt"
	"math"
	"net/http"
	"testing"

	"flotilla/api"
)

func abTable(split api.Percent, header string, rules ...api.RouteRule) *api.RouteTable {
	return &api.RouteTable{
		Rules: rules,
		Split: split2(1, 100-int(split), 2, int(split)),
		AB:    &api.ABRoute{Salt: "s1", A: 1, B: 2, Split: split, Cookie: "flotilla-ab-web", UserHeader: header},
	}
}

func split2(a, wa, b, wb int) []api.WeightedBackend {
	return []api.WeightedBackend{{Backend: a, Weight: wa}, {Backend: b, Weight: wb}}
}

// The same user key gets the same variant from any compiled copy of the
// table (every proxy), whatever the random source; users split by the
// configured share.
func TestABSplitIsStablePerUserAndHonoursTheShare(t *testing.T) {
	for _, share := range []api.Percent{50, 10} {
		t.Run(share.String(), func(t *testing.T) {
			one := mustCompile(t, abTable(share, ""))
			two := mustCompile(t, abTable(share, "")) // another proxy
			const users = 20000
			b := 0
			for i := range users {
				req := Request{Cookies: map[string]string{"flotilla-ab-web": fmt.Sprintf("user-%d", i)}}
				d1, _ := one.Pick(req, seeded(uint64(i)))
				d2, _ := two.Pick(req, seeded(uint64(i)+99))
				if d1.Backend != d2.Backend || d1.User != d2.User || !d1.AB {
					t.Fatalf("user-%d: %+v on one proxy, %+v on another", i, d1, d2)
				}
				if d1.SetCookie != nil {
					t.Fatalf("user-%d has a cookie but was given another: %+v", i, d1.SetCookie)
				}
				if d1.Backend == 2 {
					b++
				}
			}
			want := share.Fraction()
			sigma := math.Sqrt(want * (1 - want) / users)
			if got := float64(b) / users; math.Abs(got-want) > 4*sigma {
				t.Errorf("%.4f of users got B, want %.2f ± %.4f", got, want, 4*sigma)
			}
		})
	}
}

// Another salt (another experiment) deals users afresh.
func TestABSaltDealsUsersAfresh(t *testing.T) {
	same := 0
	for i := range 1000 {
		key := fmt.Sprintf("user-%d", i)
		if (UserHash("s1", key) < 1<<63) == (UserHash("s2", key) < 1<<63) {
			same++
		}
	}
	if same < 420 || same > 580 {
		t.Errorf("%d of 1000 users kept their half under a new salt, want about 500", same)
	}
}

func TestABUserKeyIsTheHeaderElseTheCookieElseANewCookie(t *testing.T) {
	c := mustCompile(t, abTable(50, "x-user-id"))
	if !c.NeedsHeaders() || !c.NeedsCookies() {
		t.Fatal("an A/B table with a user header reads headers and cookies")
	}
	withHeader := Request{Header: http.Header{"X-User-Id": {"alice"}}, Cookies: map[string]string{"flotilla-ab-web": "cookie-1"}}
	d, _ := c.Pick(withHeader, seeded(1))
	if d.User != UserHash("s1", "alice") || d.SetCookie != nil {
		t.Errorf("with the header: user %x cookie %+v, want the header's hash and no cookie", d.User, d.SetCookie)
	}
	withCookie := Request{Header: http.Header{"X-User-Id": {""}}, Cookies: map[string]string{"flotilla-ab-web": "cookie-1"}}
	d, _ = c.Pick(withCookie, seeded(1))
	if d.User != UserHash("s1", "cookie-1") || d.SetCookie != nil {
		t.Errorf("with the cookie only: user %x cookie %+v, want the cookie's hash", d.User, d.SetCookie)
	}
	d, _ = c.Pick(Request{}, seeded(7))
	if d.SetCookie == nil || !d.SetCookie.User || d.SetCookie.Name != "flotilla-ab-web" || len(d.SetCookie.Value) != 16 {
		t.Fatalf("a new user: cookie %+v, want a 16-digit user cookie", d.SetCookie)
	}
	if d.User != UserHash("s1", d.SetCookie.Value) {
		t.Error("a new user's variant is not the one its cookie will give it")
	}
	again, _ := c.Pick(Request{Cookies: map[string]string{"flotilla-ab-web": d.SetCookie.Value}}, seeded(8))
	if again.Backend != d.Backend {
		t.Errorf("the new user got %d, then %d with its cookie", d.Backend, again.Backend)
	}
}

// With rules, a match goes to B and everyone else to A; each request is
// still counted by user.
func TestABRulesDecideWhenTheyMatch(t *testing.T) {
	rule := api.RouteRule{Match: api.Match{Header: &api.ValueMatch{Name: "X-Group", Exact: "beta"}}, Backend: 2}
	c := mustCompile(t, abTable(0, "", rule))
	for i := range 200 {
		ck := map[string]string{"flotilla-ab-web": fmt.Sprintf("u%d", i)}
		d, _ := c.Pick(Request{Cookies: ck}, seeded(uint64(i)))
		if d.Backend != 1 || !d.AB {
			t.Fatalf("no match: %+v, want A (1), counted", d)
		}
		d, _ = c.Pick(Request{Header: http.Header{"X-Group": {"beta"}}, Cookies: ck}, seeded(uint64(i)))
		if d.Backend != 2 || d.Rule != 0 || d.User != UserHash("s1", ck["flotilla-ab-web"]) {
			t.Fatalf("match: %+v, want B (2) by rule 0 with the user's hash", d)
		}
	}
}

func TestABRouteIsChecked(t *testing.T) {
	for _, ab := range []api.ABRoute{
		{Cookie: "c", Split: 50},
		{Salt: "s", Split: 50},
		{Salt: "s", Cookie: "c", Split: 101},
	} {
		if _, err := Compile(&api.RouteTable{AB: &ab}); err == nil {
			t.Errorf("%+v compiled", ab)
		}
	}
}
