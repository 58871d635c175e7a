package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	miekg "github.com/miekg/dns"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/runtime"
	"flotilla/runtime/runtimetest"
)

// randomSubnet picks a /24 in 127.128.0.0/9 so that parallel tests and
// test binaries rarely meet (and portsFree steps around them when they do).
func randomSubnet() netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(128 + rand.IntN(128)), byte(rand.IntN(256)), 0}), 24)
}

func newRuntime(t *testing.T, cfg Config) *Runtime {
	t.Helper()
	if cfg.Node == "" {
		cfg.Node = runtimetest.Node
	}
	if !cfg.Subnet.IsValid() {
		cfg.Subnet = randomSubnet()
	}
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// The sim runtime is what the agent consumes (runtimetest.Runtime is
// agent.Runtime, declared again).
var _ runtimetest.Runtime = (*Runtime)(nil)

func TestContract(t *testing.T) {
	runtimetest.Run(t, runtimetest.Harness{
		New:   func(t *testing.T) runtimetest.Runtime { return newRuntime(t, Config{}) },
		Image: "flotilla.local/demo:v1",
	})
}

var ctx = context.Background()

func spec(id string, args ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		ID: id, Namespace: "default", Service: "web", Node: runtimetest.Node,
		Image: "flotilla.local/demo:v1", Args: args,
		Ports: []api.Port{{Name: "http", Port: 8080}},
	}
}

func ip(t *testing.T, rt *Runtime, id string) netip.Addr {
	t.Helper()
	st, err := rt.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	a, err := netip.ParseAddr(st.IP)
	if err != nil {
		t.Fatalf("status IP %q: %v", st.IP, err)
	}
	return a
}

func mustCreate(t *testing.T, rt *Runtime, s runtime.ContainerSpec) {
	t.Helper()
	if err := rt.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
}

func TestNewRefusesSubnetsOutsideLoopback(t *testing.T) {
	for _, tc := range []struct {
		subnet string
		want   string
	}{
		{"", "subnet is required"},
		{"10.0.3.0/24", "not inside 127.0.0.0/8"},
		{"127.128.3.7/24", "host bits"},
		{"127.128.3.0/31", "too small"},
		{"127.0.0.0/7", "not inside"},
	} {
		var p netip.Prefix
		if tc.subnet != "" {
			p = netip.MustParsePrefix(tc.subnet)
		}
		if _, err := New(Config{Node: "n1", Subnet: p}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("subnet %q: %v, want an error saying %q", tc.subnet, err, tc.want)
		}
	}
}

func TestListAfterNewIsEmpty(t *testing.T) {
	rt := newRuntime(t, Config{})
	list, err := rt.List(ctx)
	if err != nil || len(list) != 0 {
		t.Errorf("list of a new runtime: %v %v, want nothing: containers die with the process", list, err)
	}
}

func TestAddressesComeFromTheSubnetFromDot2(t *testing.T) {
	subnet := randomSubnet()
	rt := newRuntime(t, Config{Subnet: subnet})
	mustCreate(t, rt, spec("aaaaaaaa"))
	mustCreate(t, rt, spec("bbbbbbbb"))
	a, b := ip(t, rt, "aaaaaaaa"), ip(t, rt, "bbbbbbbb")
	if !subnet.Contains(a) || !subnet.Contains(b) {
		t.Errorf("addresses %s and %s are not in %s", a, b, subnet)
	}
	if a == b {
		t.Errorf("two containers share %s", a)
	}
	if a.As4()[3] != 2 || b.As4()[3] != 3 {
		t.Errorf("addresses %s, %s: want .2 then .3 (.1 is the node's)", a, b)
	}
}

func TestAddressesAreReleasedOnRemove(t *testing.T) {
	// A /29 has five container addresses: .2 to .6.
	subnet := netip.PrefixFrom(randomSubnet().Addr(), 29)
	rt := newRuntime(t, Config{Subnet: subnet})
	for i := range 5 {
		mustCreate(t, rt, spec(fmt.Sprintf("c%d", i)))
	}
	if err := rt.Create(ctx, spec("c5")); err == nil || !strings.Contains(err.Error(), "no free address") {
		t.Fatalf("sixth container in a /29: %v, want no free address", err)
	}
	freed := ip(t, rt, "c2")
	if err := rt.Remove(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, rt, spec("c5"))
	if got := ip(t, rt, "c5"); got != freed {
		t.Errorf("new container got %s, want the released %s", got, freed)
	}
}

func TestAddressesMoveOnBeforeReuse(t *testing.T) {
	rt := newRuntime(t, Config{})
	mustCreate(t, rt, spec("first"))
	first := ip(t, rt, "first")
	if err := rt.Remove(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, rt, spec("second"))
	if ip(t, rt, "second") == first {
		t.Errorf("a released address was reused at once: %s", first)
	}
}

func TestAddressesInUseElsewhereAreSkipped(t *testing.T) {
	subnet := randomSubnet()
	other := newRuntime(t, Config{Subnet: subnet})
	mustCreate(t, other, spec("theirs"))
	if err := other.Start(ctx, "theirs"); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, "http://"+ip(t, other, "theirs").String()+":8080/")
	rt := newRuntime(t, Config{Subnet: subnet})
	mustCreate(t, rt, spec("mine"))
	if ip(t, rt, "mine") == ip(t, other, "theirs") {
		t.Error("took an address another runtime listens on")
	}
}

func waitAnswer(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(10 * time.Millisecond) // polling on a deadline
	}
}

func TestCreateFailsOnABadArgNamingTheFlag(t *testing.T) {
	rt := newRuntime(t, Config{})
	err := rt.Create(ctx, spec("bad", "--error-rate", "lots"))
	if err == nil || !strings.Contains(err.Error(), "--error-rate") {
		t.Errorf("create with a bad arg: %v, want an error naming --error-rate", err)
	}
	if _, err := rt.Status(ctx, "bad"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("a failed create left a container: %v", err)
	}
}

func TestCreateRefusesRelativeFilePaths(t *testing.T) {
	rt := newRuntime(t, Config{})
	s := spec("files")
	s.Files = map[string][]byte{"etc/config": []byte("x")}
	if err := rt.Create(ctx, s); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative file path: %v", err)
	}
}

func TestExtraPortsServeTheSameWorkload(t *testing.T) {
	rt := newRuntime(t, Config{})
	s := spec("ports", "--version", "v9")
	s.Ports = []api.Port{{Name: "http", Port: 8080}, {Name: "admin", Port: 9090}}
	mustCreate(t, rt, s)
	if err := rt.Start(ctx, "ports"); err != nil {
		t.Fatal(err)
	}
	addr := ip(t, rt, "ports").String()
	for _, port := range []string{"8080", "9090"} {
		if body := waitAnswer(t, "http://"+addr+":"+port+"/"); !strings.Contains(body, `"version":"v9"`) {
			t.Errorf("port %s answers %s", port, body)
		}
	}
}

func TestWithoutPortsTheListenFlagOrDefaultDecides(t *testing.T) {
	rt := newRuntime(t, Config{})
	s := spec("listen", "--listen", ":7070")
	s.Ports = nil
	mustCreate(t, rt, s)
	s = spec("default")
	s.Ports = nil
	mustCreate(t, rt, s)
	for id, port := range map[string]string{"listen": "7070", "default": "8080"} {
		if err := rt.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		waitAnswer(t, "http://"+ip(t, rt, id).String()+":"+port+"/")
	}
}

func TestExecLocalhostIsTheContainerItself(t *testing.T) {
	rt := newRuntime(t, Config{})
	mustCreate(t, rt, spec("self", "--version", "v4"))
	if err := rt.Start(ctx, "self"); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, "http://"+ip(t, rt, "self").String()+":8080/")
	var out, errOut bytes.Buffer
	code, err := rt.Exec(ctx, "self", []string{"wget", "-q", "-O", "-", "http://localhost:8080/"}, &out, &errOut)
	if err != nil || code != 0 || !strings.Contains(out.String(), `"allocation":"self"`) {
		t.Errorf("wget localhost: %d %v %q %q", code, err, out.String(), errOut.String())
	}
}

// TestExecReachesOnlyTheLoopback: a sim container's wget reaches what
// lives on the host's loopback, and is refused, before any packet, an
// address beyond it. The address tried is one of this machine's own
// (outside loopback), so that a wrong answer sends nothing off the
// machine either: its listener must see no connection.
func TestExecReachesOnlyTheLoopback(t *testing.T) {
	var own netip.Addr
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			own = p.Addr()
			break
		}
	}
	if !own.IsValid() {
		t.Skip("this machine has no IPv4 address outside loopback to try")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(own.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()

	rt := newRuntime(t, Config{})
	mustCreate(t, rt, spec("web"))
	if err := rt.Start(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, "http://"+ip(t, rt, "web").String()+":8080/")
	var out, errOut bytes.Buffer
	code, err := rt.Exec(ctx, "web", []string{"wget", "-q", "-O", "-", "http://" + ip(t, rt, "web").String() + ":8080/"}, &out, &errOut)
	if err != nil || code != 0 {
		t.Fatalf("wget of the container's own address: %d %v %q", code, err, errOut.String())
	}
	out.Reset()
	outside := "http://" + ln.Addr().String() + "/"
	code, err = rt.Exec(ctx, "web", []string{"wget", "-q", "-O", "-", outside}, &out, &errOut)
	if err != nil || code == 0 || !strings.Contains(errOut.String(), own.String()+" is outside this container's network (127.0.0.0/8, ::1/128)") {
		t.Errorf("wget %s: %d %v %q %q, want refused as outside the loopback", outside, code, err, out.String(), errOut.String())
	}
	select {
	case <-accepted:
		t.Errorf("%s was connected to", outside)
	default:
	}
}

func TestExecNeedsARunningContainer(t *testing.T) {
	rt := newRuntime(t, Config{})
	mustCreate(t, rt, spec("idle"))
	if _, err := rt.Exec(ctx, "idle", []string{"true"}, io.Discard, io.Discard); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("exec in a created container: %v, want ErrNotRunning", err)
	}
	if _, err := rt.Stats(ctx, "idle"); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("stats of a created container: %v, want ErrNotRunning", err)
	}
}

func TestExecEndsWhenTheContainerStops(t *testing.T) {
	rt := newRuntime(t, Config{})
	mustCreate(t, rt, spec("sleeper"))
	if err := rt.Start(ctx, "sleeper"); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		code, _ := rt.Exec(ctx, "sleeper", []string{"sleep", "1h"}, io.Discard, io.Discard)
		done <- code
	}()
	deadline := time.Now().Add(10 * time.Second)
	for execs(rt, "sleeper") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("exec did not start")
		}
		time.Sleep(time.Millisecond) // polling on a deadline
	}
	if err := rt.Stop(ctx, "sleeper", time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code == 0 {
			t.Error("sleep 1h ended with 0")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exec outlived its container")
	}
}

func execs(rt *Runtime, id string) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.containers[id].execs
}

func TestMemoryLimitBelowTheModelIsOOMKilled(t *testing.T) {
	rt := newRuntime(t, Config{})
	s := spec("hungry", "--memory", "128Mi")
	s.Resources.Memory = 64 << 20
	mustCreate(t, rt, s)
	if err := rt.Start(ctx, "hungry"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := rt.Wait(wctx, "hungry")
	if err != nil || st.ExitCode != 137 || !strings.Contains(st.Error, "OOMKilled") {
		t.Errorf("got %+v %v, want 137 OOMKilled", st, err)
	}
}

func TestKilledContainerSaysWhy(t *testing.T) {
	rt := newRuntime(t, Config{})
	mustCreate(t, rt, spec("slow", "--shutdown-delay", "1h"))
	if err := rt.Start(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, "http://"+ip(t, rt, "slow").String()+":8080/")
	if err := rt.Stop(ctx, "slow", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st, _ := rt.Status(ctx, "slow")
	if st.ExitCode != 137 || !strings.Contains(st.Error, "50ms") {
		t.Errorf("status %+v, want 137 saying the grace period", st)
	}
}

func TestFakeClockDrivesCrashesAndGrace(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	rt := newRuntime(t, Config{Clock: clk})
	mustCreate(t, rt, spec("virtual", "--crash-after", "1h"))
	if err := rt.Start(ctx, "virtual"); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, "http://"+ip(t, rt, "virtual").String()+":8080/")
	clk.Advance(time.Hour)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := rt.Wait(wctx, "virtual")
	if err != nil || st.ExitCode != 1 {
		t.Fatalf("after an hour of virtual time: %+v %v, want the crash", st, err)
	}
	if got := st.FinishedAt.Sub(st.StartedAt); got != time.Hour {
		t.Errorf("ran %v of virtual time, want 1h", got)
	}
}

func TestLogsKeepOnlyTheTail(t *testing.T) {
	b := newLogBuffer(100, time.Now)
	for i := range 50 {
		fmt.Fprintf(b, "line %02d\n", i)
	}
	data, next, _ := b.readFrom(0)
	if len(data) > 100 || next != 50*8 {
		t.Errorf("kept %d bytes, next %d", len(data), next)
	}
	if !bytes.HasPrefix(data, []byte("line ")) || !bytes.HasSuffix(data, []byte("line 49\n")) {
		t.Errorf("kept %q: want whole lines ending with the last", data)
	}
	if more, _, _ := b.readFrom(next); len(more) != 0 {
		t.Errorf("read past the end: %q", more)
	}
}

func TestLogsSurviveARestart(t *testing.T) {
	rt := newRuntime(t, Config{})
	mustCreate(t, rt, spec("twice"))
	for range 2 {
		if err := rt.Start(ctx, "twice"); err != nil {
			t.Fatal(err)
		}
		waitAnswer(t, "http://"+ip(t, rt, "twice").String()+":8080/")
		if err := rt.Stop(ctx, "twice", time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := rt.Logs(ctx, "twice", false, &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "workload started"); n != 2 {
		t.Errorf("%d start lines, want 2:\n%s", n, out.String())
	}
}

func TestFilesFS(t *testing.T) {
	f, err := newFilesFS(map[string][]byte{"/etc/web/a": []byte("A"), "/etc/b": []byte("B")}, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want string }{{"etc/web/a", "A"}, {"etc/b", "B"}} {
		data, err := io.ReadAll(must(f.Open(tc.name)))
		if err != nil || string(data) != tc.want {
			t.Errorf("%s: %q %v", tc.name, data, err)
		}
	}
	if _, err := newFilesFS(map[string][]byte{"/etc": nil, "/etc/x": nil}, nil, time.Time{}); err == nil {
		t.Error("a file used as a directory was accepted")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestNoGoroutineOutlivesStopAndRemove(t *testing.T) {
	rt := newRuntime(t, Config{})
	before := goruntime.NumGoroutine()
	for _, id := range []string{"g1", "g2"} {
		mustCreate(t, rt, spec(id, "--latency", "1ms"))
		if err := rt.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		waitAnswer(t, "http://"+ip(t, rt, id).String()+":8080/")
		fctx, cancel := context.WithCancel(ctx)
		followed := make(chan error, 1)
		go func() { followed <- rt.Logs(fctx, id, true, io.Discard) }()
		var out bytes.Buffer
		if code, err := rt.Exec(ctx, id, []string{"echo", "hi"}, &out, io.Discard); err != nil || code != 0 {
			t.Fatal(code, err)
		}
		if err := rt.Stop(ctx, id, time.Second); err != nil {
			t.Fatal(err)
		}
		<-followed
		cancel()
		if err := rt.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := goruntime.NumGoroutine()
		if after <= before+1 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := goruntime.Stack(buf, true)
			t.Fatalf("%d goroutines before, %d after Stop and Remove:\n%s", before, after, buf[:n])
		}
		time.Sleep(10 * time.Millisecond) // polling on a deadline
	}
}

func TestCloseKillsEverything(t *testing.T) {
	rt := newRuntime(t, Config{})
	mustCreate(t, rt, spec("k", "--shutdown-delay", "1h"))
	if err := rt.Start(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := rt.Status(ctx, "k")
	if st.State != runtime.StateExited || st.ExitCode != 137 {
		t.Errorf("after Close: %+v", st)
	}
	if err := rt.Create(ctx, spec("late")); err == nil {
		t.Error("a closed runtime accepted a container")
	}
}

func TestLogsSelectTheLastLinesAndThoseSinceATime(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	b := newLogBuffer(1<<10, clk.Now)
	t0 := clk.Now()
	fmt.Fprint(b, "one\ntwo\n")
	clk.Advance(time.Minute)
	fmt.Fprint(b, "three\nfour, in ")
	clk.Advance(time.Minute)
	fmt.Fprint(b, "two writes\nfive")
	read := func(tail int, since time.Time) string {
		data, _, _ := b.readFrom(b.selectFrom(tail, since))
		return string(data)
	}
	all := "one\ntwo\nthree\nfour, in two writes\nfive"
	for _, tc := range []struct {
		tail  int
		since time.Time
		want  string
	}{
		{-1, time.Time{}, all},
		{0, time.Time{}, ""},
		{1, time.Time{}, "five"},
		{2, time.Time{}, "four, in two writes\nfive"},
		{5, time.Time{}, all},
		{99, time.Time{}, all},
		{-1, t0, all},
		{-1, t0.Add(time.Second), "three\nfour, in two writes\nfive"}, // "four" began in the second write
		{-1, t0.Add(90 * time.Second), "five"},
		{-1, t0.Add(time.Hour), ""},
		{1, t0.Add(time.Second), "five"},
		{4, t0.Add(time.Second), "three\nfour, in two writes\nfive"},
	} {
		if got := read(tc.tail, tc.since); got != tc.want {
			t.Errorf("tail %d since %v: %q, want %q", tc.tail, tc.since.Sub(t0), got, tc.want)
		}
	}
}

func TestLogLineTimesSurviveTrimming(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	b := newLogBuffer(100, clk.Now)
	for i := range 50 {
		fmt.Fprintf(b, "line %02d\n", i)
		clk.Advance(time.Second)
	}
	data, _, _ := b.readFrom(b.selectFrom(2, time.Time{}))
	if string(data) != "line 48\nline 49\n" {
		t.Errorf("tail 2 after trimming: %q", data)
	}
	data, _, _ = b.readFrom(b.selectFrom(-1, time.Unix(1_700_000_047, 0)))
	if string(data) != "line 47\nline 48\nline 49\n" {
		t.Errorf("since line 47's time: %q", data)
	}
	if len(b.lines) > 13 {
		t.Errorf("%d line starts kept for %d bytes", len(b.lines), len(b.data))
	}
}

func TestSelectLogsFollowsFromTheTail(t *testing.T) {
	rt := newRuntime(t, Config{})
	mustCreate(t, rt, spec("tailed"))
	if err := rt.Start(ctx, "tailed"); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, "http://"+ip(t, rt, "tailed").String()+":8080/")
	var all bytes.Buffer
	if err := rt.Logs(ctx, "tailed", false, &all); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(all.String(), "\n"), "\n")
	var last bytes.Buffer
	if err := rt.SelectLogs(ctx, "tailed", false, 1, time.Time{}, &last); err != nil {
		t.Fatal(err)
	}
	if want := lines[len(lines)-1]; strings.TrimSuffix(last.String(), "\n") != strings.TrimSuffix(want, "\n") {
		t.Errorf("tail 1: %q, want %q", last.String(), want)
	}
	var none bytes.Buffer
	if err := rt.SelectLogs(ctx, "tailed", false, -1, time.Now().Add(time.Hour), &none); err != nil || none.Len() != 0 {
		t.Errorf("since an hour from now: %q %v", none.String(), err)
	}
}

func TestDNSServerOfTheListenAddress(t *testing.T) {
	for listen, want := range map[string]string{
		"": "", "127.0.0.1:4749": "127.0.0.1:4749", ":4749": "127.0.0.1:4749", "0.0.0.0:53": "127.0.0.1:53",
		"[::]:53": "127.0.0.1:53", "10.0.0.11:53": "10.0.0.11:53", "127.0.0.1:0": "",
	} {
		if got, err := dnsServer(listen); err != nil || got != want {
			t.Errorf("dnsServer(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:70000", "127.0.0.1:http"} {
		if _, err := New(Config{Subnet: randomSubnet(), DNS: bad}); err == nil {
			t.Errorf("DNS %q accepted", bad)
		}
	}
}

// Exec's lookups go to the node's DNS server with the container's
// namespace first in the search list, as a pod's resolv.conf says.
func TestExecResolvesNamesThroughTheNodesDNS(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &miekg.Server{PacketConn: pc, Handler: miekg.HandlerFunc(func(w miekg.ResponseWriter, q *miekg.Msg) {
		m := new(miekg.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "db.shop.svc.flotilla." && q.Question[0].Qtype == miekg.TypeA {
			rr, _ := miekg.NewRR("db.shop.svc.flotilla. 5 IN A 127.64.0.9")
			m.Answer = append(m.Answer, rr)
		} else if q.Question[0].Name != "db.shop.svc.flotilla." {
			m.Rcode = miekg.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	defer srv.Shutdown()

	rt := newRuntime(t, Config{DNS: pc.LocalAddr().String()})
	s := spec("resolver")
	s.Namespace = "shop"
	mustCreate(t, rt, s)
	if err := rt.Start(ctx, "resolver"); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code, err := rt.Exec(ctx, "resolver", []string{"nslookup", "db"}, &out, &errOut)
	if err != nil || code != 0 || !strings.Contains(out.String(), "Name:\tdb.shop.svc.flotilla\nAddress: 127.64.0.9\n") {
		t.Errorf("nslookup db: %d %v %q %q", code, err, out.String(), errOut.String())
	}
}
