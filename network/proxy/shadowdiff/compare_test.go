package shadowdiff

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"flotilla/api"
)

func comparer(t *testing.T, c api.ShadowCompare) *Comparer {
	t.Helper()
	cmp, err := NewComparer(c)
	if err != nil {
		t.Fatal(err)
	}
	return cmp
}

func jsonAnswer(body string) Answer {
	return Answer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body)}
}

// show writes differences one a line, "path kind a → b", for tables.
func show(diffs []Difference) string {
	var lines []string
	for _, d := range diffs {
		lines = append(lines, fmt.Sprintf("%s %s %s → %s", d.Path, d.Kind, d.A, d.B))
	}
	return strings.Join(lines, "\n")
}

func TestCompareJSONBodiesFieldByField(t *testing.T) {
	cmp := comparer(t, api.ShadowCompare{Status: true, Body: true})
	for _, tc := range []struct {
		name, a, b, want string
	}{
		{"equal, keys in another order, spaces", `{"a": 1, "b": [1, 2]}`, `{"b":[1,2],"a":1}`, ""},
		{"numbers by value", `{"n": 1, "m": 0.5}`, `{"n": 1.0, "m": 5e-1}`, ""},
		{"changed scalar", `{"price": 10}`, `{"price": 12}`, `body.price changed 10 → 12`},
		{"nested object", `{"a": {"b": {"c": "x"}}}`, `{"a": {"b": {"c": "y"}}}`, `body.a.b.c changed "x" → "y"`},
		{"array element", `{"items": [{"price": 1}, {"price": 2}, {"price": 3}]}`, `{"items": [{"price": 1}, {"price": 2}, {"price": 4}]}`,
			`body.items[2].price changed 3 → 4`},
		{"missing and added fields", `{"a": 1, "gone": true}`, `{"a": 1, "new": null}`,
			"body.gone missing true → \nbody.new added  → null"},
		{"array lengths", `[1, 2, 3]`, `[1, 2]`, `body[2] missing 3 → `},
		{"longer array", `{"l": []}`, `{"l": ["x"]}`, `body.l[0] added  → "x"`},
		{"type change number to string", `{"id": 7}`, `{"id": "7"}`, `body.id type 7 → "7"`},
		{"type change object to array", `{"o": {"k": 1}}`, `{"o": [1]}`, `body.o type {"k":1} → [1]`},
		{"null against a value", `{"v": null}`, `{"v": false}`, `body.v type null → false`},
		{"keys that are not names are quoted", `{"a.b": 1, "x y": [0], "2x": 1}`, `{"a.b": 2, "x y": [1], "2x": 1}`,
			"body[\"a.b\"] changed 1 → 2\nbody[\"x y\"][0] changed 0 → 1"},
		{"top-level scalars", `"a"`, `"b"`, `body changed "a" → "b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := show(cmp.Compare(jsonAnswer(tc.a), jsonAnswer(tc.b))); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestCompareFoldsArrayIndexesIntoTheField(t *testing.T) {
	cmp := comparer(t, api.ShadowCompare{Body: true})
	diffs := cmp.Compare(jsonAnswer(`{"items": [{"p": 1}, {"p": 2}], "a.b": [[1]]}`), jsonAnswer(`{"items": [{"p": 9}, {"p": 8}], "a.b": [[2]]}`))
	var fields []string
	for _, d := range diffs {
		fields = append(fields, d.Path+" = "+d.Field)
	}
	want := `body["a.b"][0][0] = body["a.b"][*][*], body.items[0].p = body.items[*].p, body.items[1].p = body.items[*].p`
	if got := strings.Join(fields, ", "); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestCompareNonJSONBodies(t *testing.T) {
	cmp := comparer(t, api.ShadowCompare{Body: true})
	// The same header as jsonAnswer's, so that only the bodies differ.
	text := func(s string) Answer { return Answer{Status: 200, Header: jsonAnswer("").Header, Body: []byte(s)} }
	for _, tc := range []struct {
		name string
		a, b Answer
		want string
	}{
		{"same text", text("hello"), text("hello"), ""},
		{"other text", text("hello"), text("hullo"), "body changed hello → hullo"},
		{"both empty", text(""), text(""), ""},
		{"JSON against text", jsonAnswer(`{"a":1}`), text("oops"), `body type {"a":1} → oops`},
		{"JSON against empty", jsonAnswer(`{}`), text(""), `body type {} → `},
		{"two documents are not JSON", text(`{} {}`), text(`{} []`), `body changed {} {} → {} []`},
		{"truncated: bytes as far as they go", Answer{Status: 200, Body: []byte(`{"a":1`), Truncated: true},
			Answer{Status: 200, Body: []byte(`{"a":1`), Truncated: true}, ""},
		{"truncated against whole", Answer{Status: 200, Body: []byte(`{"a":1`), Truncated: true},
			Answer{Status: 200, Body: []byte(`{"a":1`)}, `body changed {"a":1 → {"a":1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := show(cmp.Compare(tc.a, tc.b)); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	long := strings.Repeat("é", 100) // 200 bytes
	d := cmp.Compare(Answer{Body: []byte(long)}, Answer{Body: []byte(long + "x")})
	if len(d) != 1 || !strings.HasSuffix(d[0].A, "…") || len(d[0].A) > MaxValue+len("…") || !strings.HasPrefix(long, strings.TrimSuffix(d[0].A, "…")) {
		t.Errorf("a long value is cut at %d bytes on a character boundary: %q", MaxValue, d[0].A)
	}
}

func TestCompareStatusAndFailures(t *testing.T) {
	ok, failing := jsonAnswer(`{}`), jsonAnswer(`{}`)
	failing.Status = 500
	withStatus := comparer(t, api.ShadowCompare{Status: true})
	if got := show(withStatus.Compare(ok, failing)); got != "status changed 200 → 500" {
		t.Errorf("status compared: %q", got)
	}
	without := comparer(t, api.ShadowCompare{})
	if got := show(without.Compare(ok, failing)); got != "" {
		t.Errorf("status not compared: %q", got)
	}
	// No answer at all differs whatever is compared, and nothing else is looked at.
	if got := show(without.Compare(ok, Answer{Failed: true})); got != "status changed 200 → no answer" {
		t.Errorf("a failed candidate: %q", got)
	}
	if got := show(without.Compare(Answer{Failed: true}, Answer{Failed: true, Status: 503})); got != "" {
		t.Errorf("both failed: %q", got)
	}
}

func TestCompareHeadersLeavesOutTheIgnoredOnes(t *testing.T) {
	cmp := comparer(t, api.ShadowCompare{IgnoreHeaders: []string{"x-request-id"}})
	a := Answer{Status: 200, Header: http.Header{
		"Content-Type": {"application/json"}, "Date": {"Mon, 01 Jan 2024 00:00:00 GMT"}, "Content-Length": {"10"},
		"X-Request-Id": {"r1"}, "X-Flotilla-Revision": {"1"}, "Cache-Control": {"no-cache"}, "X-Gone": {"1"},
		"Vary": {"Accept", "Cookie"},
	}}
	b := Answer{Status: 200, Header: http.Header{
		"Content-Type": {"text/plain"}, "Date": {"Mon, 01 Jan 2024 00:00:01 GMT"}, "Content-Length": {"12"},
		"X-Request-Id": {"r2"}, "X-Flotilla-Revision": {"2"}, "Cache-Control": {"no-cache"}, "x-new": {"1"},
		"Vary": {"Accept"},
	}}
	want := "header.Content-Type changed application/json → text/plain\n" +
		"header.Vary changed Accept, Cookie → Accept\n" +
		"header.X-Gone missing 1 → \n" +
		"header.X-New added  → 1"
	if got := show(cmp.Compare(a, b)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestIgnoreJSONFields(t *testing.T) {
	a := `{"time": "t1", "meta": {"time": "t1", "host": "a", "n": 1}, "items": [{"id": 1, "price": 10, "at": "x"}, {"id": 2, "price": 20, "at": "y"}], "id": 5}`
	b := `{"time": "t2", "meta": {"time": "t2", "host": "b", "n": 1}, "items": [{"id": 1, "price": 11, "at": "z"}, {"id": 3, "price": 21, "at": "w"}], "id": 6}`
	for _, tc := range []struct {
		ignore []string
		want   string // the paths left, comma-separated
	}{
		{nil, "body.id, body.items[0].at, body.items[0].price, body.items[1].at, body.items[1].id, body.items[1].price, body.meta.host, body.meta.time, body.time"},
		// A plain name, wherever it is a key.
		{[]string{"time", "at"}, "body.id, body.items[0].price, body.items[1].id, body.items[1].price, body.meta.host"},
		// A path from the top only: the nested id stays.
		{[]string{"id", "meta.time"}, "body.items[0].at, body.items[0].price, body.items[1].at, body.items[1].price, body.meta.host, body.time"},
		{[]string{"meta.host", "meta.time", "time"}, "body.id, body.items[0].at, body.items[0].price, body.items[1].at, body.items[1].id, body.items[1].price"},
		// A whole subtree.
		{[]string{"meta", "items", "time"}, "body.id"},
		// Any index, one index, and an array looked through.
		{[]string{"items[*].price", "time", "meta", "at"}, "body.id, body.items[1].id"},
		{[]string{"items[1]", "time", "meta", "at"}, "body.id, body.items[0].price"},
		{[]string{"items.price", "items[].at", "time", "meta"}, "body.id, body.items[1].id"},
		// A path that is not there changes nothing.
		{[]string{"nope.time", "items[5]", "meta.n.x"}, "body.id, body.items[0].at, body.items[0].price, body.items[1].at, body.items[1].id, body.items[1].price, body.meta.host, body.meta.time, body.time"},
	} {
		t.Run(strings.Join(tc.ignore, " "), func(t *testing.T) {
			cmp := comparer(t, api.ShadowCompare{Body: true, IgnoreJSONFields: tc.ignore})
			var paths []string
			for _, d := range cmp.Compare(jsonAnswer(a), jsonAnswer(b)) {
				paths = append(paths, d.Path)
			}
			if got := strings.Join(paths, ", "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	top := comparer(t, api.ShadowCompare{Body: true, IgnoreJSONFields: []string{"[*].at"}})
	if got := show(top.Compare(jsonAnswer(`[{"at": 1, "v": 1}]`), jsonAnswer(`[{"at": 2, "v": 2}]`))); got != "body[0].v changed 1 → 2" {
		t.Errorf("a top-level array: %q", got)
	}
}

func TestIgnoreJSONFieldsRefusesWhatItCannotRead(t *testing.T) {
	for _, bad := range []string{"a..b", ".a", "a.", "items[x]", "items[-1]", "items[", "items]", "a.[0]", "a[0]b"} {
		if _, err := NewComparer(api.ShadowCompare{IgnoreJSONFields: []string{bad}}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: %v, want an error naming it", bad, err)
		}
	}
	for _, good := range []string{"time", "$ref", "a-b", "a.b", "a[0]", "a[*][1].b", "[*].id", "a[]"} {
		if _, err := NewComparer(api.ShadowCompare{IgnoreJSONFields: []string{good}}); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
}

func TestCompareStopsAtMaxDifferences(t *testing.T) {
	var a, b []string
	for i := range 100 {
		a = append(a, fmt.Sprint(i))
		b = append(b, fmt.Sprint(i+1))
	}
	cmp := comparer(t, api.ShadowCompare{Body: true})
	diffs := cmp.Compare(jsonAnswer("["+strings.Join(a, ",")+"]"), jsonAnswer("["+strings.Join(b, ",")+"]"))
	if len(diffs) != MaxDifferences || diffs[0].Path != "body[0]" || diffs[MaxDifferences-1].Path != fmt.Sprintf("body[%d]", MaxDifferences-1) {
		t.Errorf("%d differences, from %s: want the first %d", len(diffs), diffs[0].Path, MaxDifferences)
	}
}
