package containerd

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"flotilla/api"
	"flotilla/runtime"
	"flotilla/runtime/toolbox"
)

func TestProcessArgs(t *testing.T) {
	demo := containerImage{demo: true, config: ocispec.ImageConfig{Entrypoint: demoEntrypoint}}
	other := containerImage{config: ocispec.ImageConfig{Entrypoint: []string{"/entry"}, Cmd: []string{"default"}}}
	http := []api.Port{{Name: "http", Port: 9000}}
	tests := []struct {
		name     string
		img      containerImage
		command  []string
		args     []string
		ports    []api.Port
		want     []string
		wantPort int
		invalid  bool
	}{
		{"demo listens on the first port", demo, nil, []string{"--version", "v2"}, http,
			[]string{"/flotilla", "workload", "--listen", ":9000", "--version", "v2"}, 9000, false},
		{"demo without ports listens on its default", demo, nil, nil, nil,
			[]string{"/flotilla", "workload"}, 8080, false},
		{"a --listen of the spec wins", demo, nil, []string{"--listen", ":7000"}, http,
			[]string{"/flotilla", "workload", "--listen", ":9000", "--listen", ":7000"}, 7000, false},
		{"a bad workload flag is an invalid spec", demo, nil, []string{"--no-such-flag"}, http, nil, 0, true},
		{"command replaces the entrypoint", demo, []string{"/bin/sleep"}, []string{"5"}, http,
			[]string{"/bin/sleep", "5"}, 9000, false},
		{"args replace the image's cmd", other, nil, []string{"mine"}, nil,
			[]string{"/entry", "mine"}, 8080, false},
		{"no args keep the image's cmd", other, nil, nil, nil,
			[]string{"/entry", "default"}, 8080, false},
		{"nothing to run is an invalid spec", containerImage{}, nil, nil, nil, nil, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := runtime.ContainerSpec{ID: "abcdef", Command: tc.command, Args: tc.args, Ports: tc.ports}
			args, port, err := processArgs(spec, tc.img, nil)
			if tc.invalid {
				if !errors.Is(err, runtime.ErrInvalidSpec) {
					t.Fatalf("err %v, want ErrInvalidSpec", err)
				}
				return
			}
			if err != nil || !slices.Equal(args, tc.want) || port != tc.wantPort {
				t.Errorf("got %q port %d (%v), want %q port %d", args, port, err, tc.want, tc.wantPort)
			}
		})
	}
}

func TestEnvironmentSetsTheNodesVariablesLast(t *testing.T) {
	r := &Runtime{cfg: Config{Node: "n1"}}
	env := r.environment(runtime.ContainerSpec{ID: "0123456789", Service: "web", Env: map[string]string{"B": "2", "A": "1", "HOSTNAME": "mine"}},
		[]string{"PATH=/bin", "A=image"})
	want := []string{"PATH=/bin", "A=1", "B=2", "HOSTNAME=web-01234", "FLOTILLA_NODE=n1", "FLOTILLA_ALLOC=0123456789"}
	if !slices.Equal(env, want) {
		t.Errorf("env %q, want %q", env, want)
	}
}

func TestCountRequestsLeavesOutProbesAndScrapes(t *testing.T) {
	body := `# HELP flotilla_workload_requests_total Requests served, by path and status code.
# TYPE flotilla_workload_requests_total counter
flotilla_workload_requests_total{code="200",path="/"} 3
flotilla_workload_requests_total{code="500",path="/"} 2
flotilla_workload_requests_total{code="200",path="/healthz"} 40
flotilla_workload_requests_total{code="200",path="/metrics"} 7
flotilla_workload_requests_total{code="404",path="other"} 1 1700000000000
flotilla_workload_in_flight_requests 0
`
	if got := countRequests(strings.NewReader(body)); got != 6 {
		t.Errorf("countRequests = %d, want 6", got)
	}
}

func TestExitError(t *testing.T) {
	for _, tc := range []struct {
		code   int
		reason string
		want   string
	}{
		{0, "", ""},
		{0, "killed: late", ""},
		{1, "", "exited with code 1"},
		{137, "", "killed by signal 9 (killed), exit code 137"},
		{137, "killed: still running 1s after being asked to stop", "killed: still running 1s after being asked to stop"},
		{143, "", "killed by signal 15 (terminated), exit code 143"},
	} {
		if got := exitError(tc.code, tc.reason); got != tc.want {
			t.Errorf("exitError(%d, %q) = %q, want %q", tc.code, tc.reason, got, tc.want)
		}
	}
}

func TestCPURateFromTwoReadings(t *testing.T) {
	r := &Runtime{samples: map[string]cpuSample{}}
	start := time.Unix(1000, 0)
	// First reading: the average since the start (1s of CPU over 4s).
	if got := r.cpuRate("c", time.Second, start.Add(4*time.Second), start); got != 250 {
		t.Errorf("first reading: %d millicores, want 250", got)
	}
	// Then the rate between readings: 500ms over 1s.
	if got := r.cpuRate("c", 1500*time.Millisecond, start.Add(5*time.Second), start); got != 500 {
		t.Errorf("second reading: %d millicores, want 500", got)
	}
	// Too soon after: the previous rate again.
	if got := r.cpuRate("c", 1600*time.Millisecond, start.Add(5*time.Second+time.Millisecond), start); got != 500 {
		t.Errorf("a reading right after: %d millicores, want 500", got)
	}
}

func TestValidateFiles(t *testing.T) {
	for _, tc := range []struct {
		files map[string][]byte
		ok    bool
	}{
		{map[string][]byte{"/etc/web/config.yaml": nil, "/etc/web/other": nil}, true},
		{map[string][]byte{"etc/relative": nil}, false},
		{map[string][]byte{"/": nil}, false},
		{map[string][]byte{"/etc/web": nil, "/etc/web/config.yaml": nil}, false},
	} {
		if err := validateFiles(tc.files); (err == nil) != tc.ok {
			t.Errorf("validateFiles(%v) = %v, want ok %v", tc.files, err, tc.ok)
		}
	}
}

// The layer of a static binary holds the binary, a symlink per toolbox
// command, /etc and /tmp, and is the same bytes every time.
func TestDemoLayerOfAStaticBinary(t *testing.T) {
	binary := testBinary(t)
	if interp, _, err := elfDeps(binary); err != nil || interp != "" {
		t.Fatalf("%s: interpreter %q (%v), want a static binary", binary, interp, err)
	}
	plan, err := planDemoLayer(binary)
	if err != nil {
		t.Fatal(err)
	}
	var first, second bytes.Buffer
	if err := plan.writeTar(&first); err != nil {
		t.Fatal(err)
	}
	if err := plan.writeTar(&second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("two tars of the same binary differ")
	}
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(&first)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries[h.Name] = h
	}
	if h := entries["flotilla"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
		t.Errorf("no executable /flotilla: %+v", h)
	}
	for _, cmd := range toolbox.Commands() {
		if h := entries["bin/"+cmd]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/flotilla" {
			t.Errorf("bin/%s: %+v, want a symlink to /flotilla", cmd, h)
		}
	}
	for _, dir := range []string{"etc/", "tmp/", "bin/"} {
		if h := entries[dir]; h == nil || h.Typeflag != tar.TypeDir {
			t.Errorf("no directory %s", dir)
		}
	}
	if len(entries) != 4+len(toolbox.Commands()) {
		t.Errorf("%d entries, want only the binary, the links and 3 directories", len(entries))
	}
}

// A dynamically linked binary brings its loader and libc.
func TestSharedDepsOfADynamicBinary(t *testing.T) {
	interp, needed, err := elfDeps("/usr/bin/sleep")
	if err != nil || interp == "" {
		t.Skipf("/usr/bin/sleep is not dynamically linked (%v)", err)
	}
	deps, err := sharedDeps("/usr/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if deps[interp] == "" {
		t.Errorf("no interpreter %s in %v", interp, deps)
	}
	for _, lib := range needed {
		found := false
		for name := range deps {
			found = found || strings.HasSuffix(name, "/"+lib)
		}
		if !found {
			t.Errorf("needed %s is not in %v", lib, deps)
		}
	}
}
