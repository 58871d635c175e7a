package route

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"flotilla/api"
)

func seeded(seed uint64) func() float64 {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Float64
}

func split(pairs ...int) []api.WeightedBackend {
	var out []api.WeightedBackend
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, api.WeightedBackend{Backend: pairs[i], Weight: pairs[i+1]})
	}
	return out
}

func mustCompile(t *testing.T, rt *api.RouteTable) *Compiled {
	t.Helper()
	c, err := Compile(rt)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return c
}

func TestSplitHonoursWeights(t *testing.T) {
	const picks = 100_000
	tests := []struct {
		name  string
		split []api.WeightedBackend
		want  map[int]float64 // share of picks
	}{
		{"10/90", split(1, 10, 2, 90), map[int]float64{1: 0.10, 2: 0.90}},
		{"33/33/34", split(1, 33, 2, 33, 3, 34), map[int]float64{1: 0.33, 2: 0.33, 3: 0.34}},
		{"weights are relative", split(1, 1, 2, 3), map[int]float64{1: 0.25, 2: 0.75}},
		{"zero weight is never chosen", split(1, 0, 2, 5, 3, 0), map[int]float64{2: 1}},
		{"one backend", split(7, 100), map[int]float64{7: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCompile(t, &api.RouteTable{Split: tt.split})
			rnd := seeded(42)
			got := map[int]int{}
			for range picks {
				d, ok := c.Pick(Request{}, rnd)
				if !ok {
					t.Fatal("Pick found no backend")
				}
				got[d.Backend]++
			}
			for rev, n := range got {
				if _, ok := tt.want[rev]; !ok {
					t.Errorf("revision %d chosen %d times, want never", rev, n)
				}
			}
			for rev, share := range tt.want {
				if g := float64(got[rev]) / picks; math.Abs(g-share) > 0.02 {
					t.Errorf("revision %d got %.4f of picks, want %.2f ± 0.02", rev, g, share)
				}
			}
		})
	}
}

func TestRulesMatchInOrderBeforeTheSplit(t *testing.T) {
	header := func(name, exact, prefix, regex string) api.Match {
		return api.Match{Header: &api.ValueMatch{Name: name, Exact: exact, Prefix: prefix, Regex: regex}}
	}
	cookie := func(name, exact, prefix, regex string) api.Match {
		return api.Match{Cookie: &api.ValueMatch{Name: name, Exact: exact, Prefix: prefix, Regex: regex}}
	}
	table := &api.RouteTable{
		Rules: []api.RouteRule{
			{Match: header("x-group", "beta", "", ""), Backend: 2},        // name is case-insensitive
			{Match: cookie("variant", "b", "", ""), Backend: 3},           // cookie exact
			{Match: header("X-User", "", "staff-", ""), Backend: 4},       // header prefix
			{Match: cookie("region", "", "eu-", ""), Backend: 5},          // cookie prefix
			{Match: header("X-Build", "", "", `v[0-9]+\.rc`), Backend: 6}, // header regex, whole value
			{Match: cookie("session", "", "", `[a-f0-9]{4}`), Backend: 7}, // cookie regex, whole value
		},
		Split: split(1, 100),
	}
	c := mustCompile(t, table)
	tests := []struct {
		name     string
		header   map[string][]string
		cookies  map[string]string
		want     int
		wantRule int
	}{
		{"no match goes to the split", nil, nil, 1, -1},
		{"header exact", map[string][]string{"X-Group": {"beta"}}, nil, 2, 0},
		{"header exact is exact", map[string][]string{"X-Group": {"betamax"}}, nil, 1, -1},
		{"any value of a repeated header", map[string][]string{"X-Group": {"alpha", "beta"}}, nil, 2, 0},
		{"cookie exact", nil, map[string]string{"variant": "b"}, 3, 1},
		{"first match wins", map[string][]string{"X-Group": {"beta"}}, map[string]string{"variant": "b"}, 2, 0},
		{"header prefix", map[string][]string{"X-User": {"staff-ann"}}, nil, 4, 2},
		{"cookie prefix", nil, map[string]string{"region": "eu-west"}, 5, 3},
		{"earlier cookie beats later header", map[string][]string{"X-User": {"staff-ann"}}, map[string]string{"variant": "b"}, 3, 1},
		{"header regex", map[string][]string{"X-Build": {"v12.rc"}}, nil, 6, 4},
		{"regex must match the whole value", map[string][]string{"X-Build": {"v12.rc1"}}, nil, 1, -1},
		{"cookie regex", nil, map[string]string{"session": "beef"}, 7, 5},
		{"cookie regex whole value", nil, map[string]string{"session": "beefy"}, 1, -1},
		{"a header does not match a cookie rule", map[string][]string{"Variant": {"b"}}, nil, 1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := c.Pick(Request{Header: tt.header, Cookies: tt.cookies}, seeded(1))
			if !ok || d.Backend != tt.want || d.Rule != tt.wantRule {
				t.Errorf("Pick = %+v, %v; want backend %d by rule %d", d, ok, tt.want, tt.wantRule)
			}
		})
	}
}

func TestRulesWithoutSplit(t *testing.T) {
	c := mustCompile(t, &api.RouteTable{Rules: []api.RouteRule{{
		Match: api.Match{Header: &api.ValueMatch{Name: "X-Group", Exact: "beta"}}, Backend: 2,
	}}})
	if d, ok := c.Pick(Request{Header: map[string][]string{"X-Group": {"beta"}}}, seeded(1)); !ok || d.Backend != 2 {
		t.Errorf("matching request: Pick = %+v, %v; want backend 2", d, ok)
	}
	if d, ok := c.Pick(Request{}, seeded(1)); ok {
		t.Errorf("unmatched request with an empty split: Pick = %+v, true; want false", d)
	}
}

func TestEmptySplitPicksNothing(t *testing.T) {
	for name, table := range map[string]*api.RouteTable{
		"nil table":         nil,
		"empty table":       {},
		"only zero weights": {Split: split(1, 0, 2, 0)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Pick(table, Request{}, seeded(1)); !errors.Is(err, ErrNoBackend) {
				t.Errorf("Pick error = %v, want ErrNoBackend", err)
			}
			if c := mustCompile(t, table); !c.Empty() {
				t.Errorf("compiled table is not Empty")
			}
		})
	}
}

func TestStickyKeepsARevision(t *testing.T) {
	table := &api.RouteTable{Split: split(1, 50, 2, 50), Sticky: &api.StickyRoute{Cookie: "flotilla-web"}}
	c := mustCompile(t, table)
	rnd := seeded(7)

	first, ok := c.Pick(Request{}, rnd)
	if !ok || first.SetCookie == nil {
		t.Fatalf("first request: Pick = %+v, %v; want a cookie to be set", first, ok)
	}
	if first.SetCookie.Name != "flotilla-web" || first.SetCookie.Value != StickyValue(first.Backend) {
		t.Fatalf("cookie = %+v, want flotilla-web=%s", first.SetCookie, StickyValue(first.Backend))
	}
	jar := map[string]string{first.SetCookie.Name: first.SetCookie.Value}
	for i := range 1000 {
		d, _ := c.Pick(Request{Cookies: jar}, rnd)
		if d.Backend != first.Backend || d.SetCookie != nil {
			t.Fatalf("request %d with cookie %v: Pick = %+v; want backend %d and no new cookie", i, jar, d, first.Backend)
		}
	}

	// The revision leaves the split (weight 0, then gone): the client is
	// reassigned and gets a new cookie.
	other := 3 - first.Backend
	for name, s := range map[string][]api.WeightedBackend{
		"weight 0": split(first.Backend, 0, other, 100),
		"gone":     split(other, 100),
	} {
		t.Run(name, func(t *testing.T) {
			c := mustCompile(t, &api.RouteTable{Split: s, Sticky: table.Sticky})
			d, _ := c.Pick(Request{Cookies: jar}, rnd)
			if d.Backend != other || d.SetCookie == nil || d.SetCookie.Value != StickyValue(other) {
				t.Errorf("Pick = %+v; want backend %d with a new cookie", d, other)
			}
		})
	}

	for _, bad := range []string{"", "r", "3", "rx", "r-1", "r+2", "r1.5"} {
		if rev, ok := ParseStickyValue(bad); ok {
			t.Errorf("ParseStickyValue(%q) = %d, true; want false", bad, rev)
		}
	}
	if d, _ := c.Pick(Request{Cookies: map[string]string{"flotilla-web": "garbage"}}, rnd); d.SetCookie == nil {
		t.Errorf("a garbage cookie is not replaced: %+v", d)
	}
}

func TestRulesWinOverStickiness(t *testing.T) {
	c := mustCompile(t, &api.RouteTable{
		Rules:  []api.RouteRule{{Match: api.Match{Header: &api.ValueMatch{Name: "X-Group", Exact: "beta"}}, Backend: 2}},
		Split:  split(1, 100),
		Sticky: &api.StickyRoute{Cookie: "s"},
	})
	d, _ := c.Pick(Request{Header: map[string][]string{"X-Group": {"beta"}}, Cookies: map[string]string{"s": "r1"}}, seeded(1))
	if d.Backend != 2 || d.SetCookie != nil {
		t.Errorf("Pick = %+v; want backend 2 by rule, no cookie", d)
	}
}

func TestMirrorPercentage(t *testing.T) {
	const picks = 100_000
	tests := []struct {
		percent api.Percent
		want    float64
	}{{0, 0}, {0.5, 0.005}, {10, 0.10}, {50, 0.50}, {100, 1}}
	for _, tt := range tests {
		t.Run(tt.percent.String(), func(t *testing.T) {
			c := mustCompile(t, &api.RouteTable{
				Split:   split(1, 100),
				Mirrors: []api.Mirror{{Backend: 2, Percent: tt.percent}},
			})
			rnd := seeded(3)
			mirrored := 0
			for range picks {
				d, _ := c.Pick(Request{}, rnd)
				if d.Backend != 1 {
					t.Fatalf("mirroring changed the backend: %+v", d)
				}
				for _, m := range d.Mirrors {
					if m != 2 {
						t.Fatalf("mirrored to %d, want 2", m)
					}
					mirrored++
				}
			}
			if g := float64(mirrored) / picks; math.Abs(g-tt.want) > 0.02 {
				t.Errorf("mirrored %.4f of requests, want %.3f ± 0.02", g, tt.want)
			}
		})
	}
}

func TestMirrorOfTheChosenRevisionNeverFires(t *testing.T) {
	c := mustCompile(t, &api.RouteTable{Split: split(2, 100), Mirrors: []api.Mirror{{Backend: 2, Percent: 100}}})
	if d, _ := c.Pick(Request{}, seeded(1)); len(d.Mirrors) != 0 {
		t.Errorf("Pick = %+v; want no mirror of the serving revision", d)
	}
	m, ok := c.Mirror(2)
	if !ok || m.Percent != 100 {
		t.Errorf("Mirror(2) = %+v, %v", m, ok)
	}
}

func TestCompileRefusesBadTables(t *testing.T) {
	vm := func(v api.ValueMatch) *api.ValueMatch { return &v }
	tests := []struct {
		name  string
		table api.RouteTable
		field string
	}{
		{"no match", api.RouteTable{Rules: []api.RouteRule{{}}}, "rules[0].match"},
		{"both header and cookie", api.RouteTable{Rules: []api.RouteRule{{Match: api.Match{
			Header: vm(api.ValueMatch{Name: "a", Exact: "b"}), Cookie: vm(api.ValueMatch{Name: "a", Exact: "b"})}}}}, "rules[0].match"},
		{"no name", api.RouteTable{Rules: []api.RouteRule{{Match: api.Match{Header: vm(api.ValueMatch{Exact: "b"})}}}}, "rules[0].match.header.name"},
		{"no value", api.RouteTable{Rules: []api.RouteRule{{Match: api.Match{Cookie: vm(api.ValueMatch{Name: "a"})}}}}, "rules[0].match.cookie"},
		{"two values", api.RouteTable{Rules: []api.RouteRule{{Match: api.Match{Cookie: vm(api.ValueMatch{Name: "a", Exact: "x", Prefix: "y"})}}}}, "rules[0].match.cookie"},
		{"bad regex", api.RouteTable{Rules: []api.RouteRule{{Match: api.Match{Header: vm(api.ValueMatch{Name: "a", Regex: "("})}}}}, "rules[0].match.header.regex"},
		{"negative weight", api.RouteTable{Split: split(1, -1)}, "split[0].weight"},
		{"sticky without cookie", api.RouteTable{Split: split(1, 1), Sticky: &api.StickyRoute{}}, "sticky.cookie"},
		{"mirror over 100%", api.RouteTable{Mirrors: []api.Mirror{{Backend: 1, Percent: 101}}}, "mirrors[0].percent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(&tt.table)
			if err == nil || !strings.HasPrefix(err.Error(), tt.field) {
				t.Errorf("Compile error = %v, want one naming %s", err, tt.field)
			}
		})
	}
}

func TestCanonicalHeaderKey(t *testing.T) {
	for in, want := range map[string]string{
		"x-group": "X-Group", "X-GROUP": "X-Group", "content-type": "Content-Type", "x_y": "X_y", "bad name": "bad name",
	} {
		if got := CanonicalHeaderKey(in); got != want {
			t.Errorf("CanonicalHeaderKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPickDoesNotAllocateWithoutMirrorsOrCookies(t *testing.T) {
	c := mustCompile(t, &api.RouteTable{
		Rules: []api.RouteRule{{Match: api.Match{Header: &api.ValueMatch{Name: "X-Build", Regex: `v[0-9]+`}}, Backend: 3}},
		Split: split(1, 90, 2, 10),
	})
	req := Request{Header: map[string][]string{"X-Build": {"nightly"}}}
	rnd := seeded(1)
	if n := testing.AllocsPerRun(1000, func() { c.Pick(req, rnd) }); n != 0 {
		t.Errorf("Pick allocates %.1f times per call, want 0", n)
	}
}

func BenchmarkRoutePick(b *testing.B) {
	c, err := Compile(&api.RouteTable{
		Rules: []api.RouteRule{
			{Match: api.Match{Header: &api.ValueMatch{Name: "X-Group", Exact: "beta"}}, Backend: 3},
			{Match: api.Match{Header: &api.ValueMatch{Name: "X-Build", Regex: `v[0-9]+\.rc`}}, Backend: 3},
		},
		Split: split(1, 90, 2, 10),
	})
	if err != nil {
		b.Fatal(err)
	}
	req := Request{Header: map[string][]string{"X-Build": {"v7.final"}, "Accept": {"*/*"}}}
	rnd := seeded(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Pick(req, rnd); !ok {
			b.Fatal("no backend")
		}
	}
}
