package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCPU(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want CPU
		err  string
	}{
		{in: "250m", want: 250},
		{in: "1.5", want: 1500},
		{in: "2", want: 2000},
		{in: "0.5", want: 500},
		{in: " 100m ", want: 100},
		{in: "0", want: 0},
		{in: "0.0001", want: 0},
		{in: "", err: "empty cpu quantity"},
		{in: "25x", err: `invalid cpu quantity "25x"`},
		{in: "-1", err: "invalid cpu quantity"},
		{in: "-5m", err: "invalid cpu quantity"},
		{in: "1.5m", err: "invalid cpu quantity"},
		{in: "NaN", err: "invalid cpu quantity"},
		{in: "Inf", err: "invalid cpu quantity"},
		{in: "2e12", err: "invalid cpu quantity"},
	} {
		got, err := ParseCPU(tc.in)
		checkParse(t, "ParseCPU", tc.in, got, tc.want, err, tc.err)
	}
}

func TestParseMemory(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Memory
		err  string
	}{
		{in: "64Mi", want: 64 << 20},
		{in: "1.5Gi", want: 3 << 29},
		{in: "1Ti", want: 1 << 40},
		{in: "512Ki", want: 512 << 10},
		{in: "100M", want: 100e6},
		{in: "1G", want: 1e9},
		{in: "512k", want: 512e3},
		{in: "512K", want: 512e3},
		{in: "2T", want: 2e12},
		{in: "1048576", want: 1 << 20},
		{in: " 8Gi ", want: 8 << 30},
		{in: "", err: "empty memory quantity"},
		{in: "64MB", err: `invalid memory quantity "64MB"`},
		{in: "-1Mi", err: "invalid memory quantity"},
		{in: "Mi", err: "invalid memory quantity"},
		{in: "1.2.3", err: "invalid memory quantity"},
		{in: "9999999999Ti", err: "invalid memory quantity"},
	} {
		got, err := ParseMemory(tc.in)
		checkParse(t, "ParseMemory", tc.in, got, tc.want, err, tc.err)
	}
}

func TestMemoryString(t *testing.T) {
	for _, tc := range []struct {
		in   Memory
		want string
	}{
		{0, "0"},
		{64 << 20, "64Mi"},
		{1 << 40, "1Ti"},
		{3 << 29, "1536Mi"},
		{1536, "1536"},
		{100e6, "100000000"},
		{2048, "2Ki"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("Memory(%d).String() = %q, want %q", int64(tc.in), got, tc.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Duration
		err  string
	}{
		{in: "30s", want: Duration(30 * time.Second)},
		{in: "1m30s", want: Duration(90 * time.Second)},
		{in: "250ms", want: Duration(250 * time.Millisecond)},
		{in: "2h", want: Duration(2 * time.Hour)},
		{in: "10", want: Duration(10 * time.Second)},
		{in: "1.5", want: Duration(1500 * time.Millisecond)},
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: "", err: `invalid duration ""`},
		{in: "soon", err: `invalid duration "soon"`},
		{in: "-1s", err: `invalid duration "-1s": must not be negative`},
		{in: "-5", err: `invalid duration "-5": must not be negative`},
		{in: "1d", err: "invalid duration"},
		{in: "NaN", err: "invalid duration"},
		{in: "Inf", err: "invalid duration"},
		{in: "1e30", err: "invalid duration"},
	} {
		got, err := ParseDuration(tc.in)
		checkParse(t, "ParseDuration", tc.in, got, tc.want, err, tc.err)
	}
}

func TestDurationString(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{time.Minute, "1m"},
		{10 * time.Minute, "10m"},
		{time.Hour, "1h"},
		{90 * time.Second, "1m30s"},
		{90 * time.Minute, "1h30m"},
		{250 * time.Millisecond, "250ms"},
		{1500 * time.Millisecond, "1.5s"},
	} {
		if got := Duration(tc.in).String(); got != tc.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParsePercent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Percent
		err  string
	}{
		{in: "1%", want: 1},
		{in: "0.5%", want: 0.5},
		{in: "25", want: 25},
		{in: " 10 % ", want: 10},
		{in: "100%", want: 100},
		{in: "", err: "invalid percentage"},
		{in: "%", err: "invalid percentage"},
		{in: "abc%", err: "invalid percentage"},
		{in: "NaN%", err: "invalid percentage"},
		{in: "Inf", err: "invalid percentage"},
	} {
		got, err := ParsePercent(tc.in)
		checkParse(t, "ParsePercent", tc.in, got, tc.want, err, tc.err)
	}
	if got := Percent(1).Fraction(); got != 0.01 {
		t.Errorf("Percent(1).Fraction() = %v, want 0.01", got)
	}
}

func TestParseIntOrPercent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want IntOrPercent
		err  string
	}{
		{in: "2", want: IntOrPercent{Value: 2}},
		{in: "0", want: IntOrPercent{}},
		{in: "25%", want: IntOrPercent{Value: 25, Percent: true}},
		{in: " 0% ", want: IntOrPercent{Value: 0, Percent: true}},
		{in: "1.5", err: `invalid count or percentage "1.5"`},
		{in: "x%", err: "invalid count or percentage"},
		{in: "", err: "invalid count or percentage"},
	} {
		got, err := ParseIntOrPercent(tc.in)
		checkParse(t, "ParseIntOrPercent", tc.in, got, tc.want, err, tc.err)
	}
}

func TestIntOrPercentResolve(t *testing.T) {
	for _, tc := range []struct {
		v        IntOrPercent
		replicas int
		roundUp  bool
		want     int
	}{
		{IntOrPercent{Value: 2}, 10, true, 2},
		{IntOrPercent{Value: 25, Percent: true}, 10, true, 3},
		{IntOrPercent{Value: 25, Percent: true}, 10, false, 2},
		{IntOrPercent{Value: 25, Percent: true}, 4, true, 1},
		{IntOrPercent{Value: 25, Percent: true}, 3, false, 0},
		{IntOrPercent{Value: 100, Percent: true}, 7, false, 7},
	} {
		if got := tc.v.Resolve(tc.replicas, tc.roundUp); got != tc.want {
			t.Errorf("%v.Resolve(%d, %t) = %d, want %d", tc.v, tc.replicas, tc.roundUp, got, tc.want)
		}
	}
}

// TestQuantityJSON decodes each type from what a document may hold and
// checks what it marshals back to, and that the result decodes to the same
// value again.
func TestQuantityJSON(t *testing.T) {
	for _, tc := range []struct {
		name    string
		newV    func() any // a pointer to a fresh value
		in      string
		want    any // the decoded value (not a pointer)
		out     string
		wantErr string
	}{
		{name: "cpu millicores", newV: func() any { return new(CPU) }, in: `"250m"`, want: CPU(250), out: `"250m"`},
		{name: "cpu cores as number", newV: func() any { return new(CPU) }, in: `0.5`, want: CPU(500), out: `"500m"`},
		{name: "cpu cores as string", newV: func() any { return new(CPU) }, in: `"2"`, want: CPU(2000), out: `"2000m"`},
		{name: "cpu bool", newV: func() any { return new(CPU) }, in: `true`, wantErr: "want a string or a number"},
		{name: "memory", newV: func() any { return new(Memory) }, in: `"64Mi"`, want: Memory(64 << 20), out: `"64Mi"`},
		{name: "memory bytes", newV: func() any { return new(Memory) }, in: `1000`, want: Memory(1000), out: `"1000"`},
		{name: "memory decimal suffix", newV: func() any { return new(Memory) }, in: `"1G"`, want: Memory(1e9), out: `"1000000000"`},
		{name: "memory object", newV: func() any { return new(Memory) }, in: `{}`, wantErr: "want a string or a number"},
		{name: "duration", newV: func() any { return new(Duration) }, in: `"1m30s"`, want: Duration(90 * time.Second), out: `"1m30s"`},
		{name: "duration seconds", newV: func() any { return new(Duration) }, in: `10`, want: Duration(10 * time.Second), out: `"10s"`},
		{name: "duration minutes", newV: func() any { return new(Duration) }, in: `"600s"`, want: Duration(10 * time.Minute), out: `"10m"`},
		{name: "percent", newV: func() any { return new(Percent) }, in: `"1%"`, want: Percent(1), out: `"1%"`},
		{name: "percent number", newV: func() any { return new(Percent) }, in: `0.5`, want: Percent(0.5), out: `"0.5%"`},
		{name: "int or percent count", newV: func() any { return new(IntOrPercent) }, in: `1`, want: IntOrPercent{Value: 1}, out: `1`},
		{name: "int or percent string count", newV: func() any { return new(IntOrPercent) }, in: `"1"`, want: IntOrPercent{Value: 1}, out: `1`},
		{name: "int or percent percent", newV: func() any { return new(IntOrPercent) }, in: `"25%"`, want: IntOrPercent{Value: 25, Percent: true}, out: `"25%"`},
		{name: "int or percent fraction", newV: func() any { return new(IntOrPercent) }, in: `1.5`, wantErr: "invalid count or percentage"},
		{name: "port name", newV: func() any { return new(PortRef) }, in: `"http"`, want: PortRef{Name: "http"}, out: `"http"`},
		{name: "port number", newV: func() any { return new(PortRef) }, in: `8080`, want: PortRef{Number: 8080}, out: `8080`},
		{name: "port number as string", newV: func() any { return new(PortRef) }, in: `"8080"`, want: PortRef{Number: 8080}, out: `8080`},
		{name: "port fraction", newV: func() any { return new(PortRef) }, in: `80.5`, wantErr: "want a port name or number"},
		{name: "port bool", newV: func() any { return new(PortRef) }, in: `true`, wantErr: "want a port name or number"},
		{name: "pause manual", newV: func() any { return new(Pause) }, in: `"manual"`, want: Pause{Manual: true}, out: `"manual"`},
		{name: "pause duration", newV: func() any { return new(Pause) }, in: `"30s"`, want: Pause{Duration: Duration(30 * time.Second)}, out: `"30s"`},
		{name: "pause seconds", newV: func() any { return new(Pause) }, in: `30`, want: Pause{Duration: Duration(30 * time.Second)}, out: `"30s"`},
		{name: "pause word", newV: func() any { return new(Pause) }, in: `"later"`, wantErr: `invalid pause "later"`},
		{name: "constraint", newV: func() any { return new(Constraint) }, in: `"zone!=b"`, want: Constraint{Key: "zone", Op: OpNotEqual, Values: []string{"b"}}, out: `"zone != b"`},
		{name: "constraint in", newV: func() any { return new(Constraint) }, in: `"zone in (a,b)"`, want: Constraint{Key: "zone", Op: OpIn, Values: []string{"a", "b"}}, out: `"zone in (a, b)"`},
		{name: "constraint number", newV: func() any { return new(Constraint) }, in: `1`, wantErr: "want a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.newV()
			err := json.Unmarshal([]byte(tc.in), v)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("decode %s: err = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode %s: %v", tc.in, err)
			}
			got := reflect.ValueOf(v).Elem().Interface()
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decode %s = %#v, want %#v", tc.in, got, tc.want)
			}
			out, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.out {
				t.Fatalf("marshal %#v = %s, want %s", got, out, tc.out)
			}
			again := tc.newV()
			if err := json.Unmarshal(out, again); err != nil {
				t.Fatalf("decode again %s: %v", out, err)
			}
			if back := reflect.ValueOf(again).Elem().Interface(); !reflect.DeepEqual(back, got) {
				t.Fatalf("round trip %s = %#v, want %#v", out, back, got)
			}
		})
	}
}

func TestParseConstraint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Constraint
		err  string
	}{
		{in: "zone == a", want: Constraint{Key: "zone", Op: OpEqual, Values: []string{"a"}}},
		{in: "zone==a", want: Constraint{Key: "zone", Op: OpEqual, Values: []string{"a"}}},
		{in: "zone != b", want: Constraint{Key: "zone", Op: OpNotEqual, Values: []string{"b"}}},
		{in: " zone in (a, b) ", want: Constraint{Key: "zone", Op: OpIn, Values: []string{"a", "b"}}},
		{in: "zone not in (a,b,c)", want: Constraint{Key: "zone", Op: OpNotIn, Values: []string{"a", "b", "c"}}},
		{in: "node.name == n1", want: Constraint{Key: NodeNameKey, Op: OpEqual, Values: []string{"n1"}}},
		{in: "login in (x)", want: Constraint{Key: "login", Op: OpIn, Values: []string{"x"}}},
		{in: "zone", err: "invalid constraint"},
		{in: "zone ~ a", err: "invalid constraint"},
		{in: "zone in a", err: "go in parentheses"},
		{in: "== a", err: "bad label key"},
		{in: "zone == ", err: "bad value"},
		{in: "zone == a b", err: "bad value"},
		{in: "zone in ()", err: "bad value"},
		{in: "zone in (a,,b)", err: "bad value"},
	} {
		got, err := ParseConstraint(tc.in)
		checkParse(t, "ParseConstraint", tc.in, got, tc.want, err, tc.err)
		if err == nil {
			again, err := ParseConstraint(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("ParseConstraint(%q).String() = %q does not parse back: %v, %v", tc.in, got.String(), again, err)
			}
		}
	}
}

func TestConstraintMatches(t *testing.T) {
	labels := map[string]string{"zone": "a", "disk": "ssd"}
	for _, tc := range []struct {
		constraint string
		node       string
		want       bool
	}{
		{"zone == a", "n1", true},
		{"zone == b", "n1", false},
		{"zone != b", "n1", true},
		{"zone != a", "n1", false},
		{"zone in (a, b)", "n1", true},
		{"zone in (b, c)", "n1", false},
		{"zone not in (b, c)", "n1", true},
		{"zone not in (a)", "n1", false},
		// A missing label satisfies only != and "not in".
		{"rack == r1", "n1", false},
		{"rack != r1", "n1", true},
		{"rack in (r1)", "n1", false},
		{"rack not in (r1)", "n1", true},
		{"node.name == n1", "n1", true},
		{"node.name != n1", "n1", false},
		{"node.name in (n2, n3)", "n1", false},
		{"node.name not in (n2, n3)", "n1", true},
	} {
		c, err := ParseConstraint(tc.constraint)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Matches(tc.node, labels); got != tc.want {
			t.Errorf("%q.Matches(%s, %v) = %t, want %t", tc.constraint, tc.node, labels, got, tc.want)
		}
	}
}

func checkParse[T any](t *testing.T, fn, in string, got, want T, err error, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s(%q) = %v, %v; want error containing %q", fn, in, got, err, wantErr)
		}
		return
	}
	if err != nil {
		t.Errorf("%s(%q): %v", fn, in, err)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s(%q) = %#v, want %#v", fn, in, got, want)
	}
}
