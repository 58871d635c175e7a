package toolbox

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

var testFiles = fstest.MapFS{
	"etc/web/config.yaml": {Data: []byte("color: blue\n")},
	"etc/web/other.txt":   {Data: []byte("other\n")},
	"etc/hosts":           {Data: []byte("127.0.0.1 localhost\n")},
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return runCtx(t, context.Background(), env, args...)
}

func runCtx(t *testing.T, ctx context.Context, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(ctx, args, env, testFiles, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func TestCommands(t *testing.T) {
	env := map[string]string{"HOSTNAME": "web-a1b2c", "COLOR": "blue", "A": "1"}
	for _, tc := range []struct {
		args   []string
		want   result
		stderr string // a substring of stderr
	}{
		{[]string{"echo", "hello"}, result{0, "hello\n", ""}, ""},
		{[]string{"echo", "hello", "world"}, result{0, "hello world\n", ""}, ""},
		{[]string{"echo"}, result{0, "\n", ""}, ""},
		{[]string{"echo", "-n", "x"}, result{0, "x", ""}, ""},
		{[]string{"true"}, result{0, "", ""}, ""},
		{[]string{"false"}, result{1, "", ""}, ""},
		{[]string{"hostname"}, result{0, "web-a1b2c\n", ""}, ""},
		{[]string{"env"}, result{0, "A=1\nCOLOR=blue\nHOSTNAME=web-a1b2c\n", ""}, ""},
		{[]string{"env", "B=2", "printenv", "B", "A"}, result{0, "2\n1\n", ""}, ""},
		{[]string{"env", "C=3"}, result{0, "A=1\nC=3\nCOLOR=blue\nHOSTNAME=web-a1b2c\n", ""}, ""},
		{[]string{"printenv", "COLOR"}, result{0, "blue\n", ""}, ""},
		{[]string{"printenv", "COLOR", "MISSING"}, result{1, "blue\n", ""}, ""},
		{[]string{"printenv"}, result{0, "A=1\nCOLOR=blue\nHOSTNAME=web-a1b2c\n", ""}, ""},
		{[]string{"cat", "/etc/web/config.yaml"}, result{0, "color: blue\n", ""}, ""},
		{[]string{"cat", "/etc/hosts", "/etc/web/other.txt"}, result{0, "127.0.0.1 localhost\nother\n", ""}, ""},
		{[]string{"cat", "etc/hosts"}, result{0, "127.0.0.1 localhost\n", ""}, ""},
		{[]string{"cat", "/missing"}, result{code: 1}, "cat: /missing: No such file or directory"},
		{[]string{"cat", "/etc"}, result{code: 1}, "cat: /etc: Is a directory"},
		{[]string{"cat"}, result{code: 2}, "usage"},
		{[]string{"ls", "/etc/web"}, result{0, "config.yaml\nother.txt\n", ""}, ""},
		{[]string{"ls"}, result{0, "etc\n", ""}, ""},
		{[]string{"ls", "/etc/hosts"}, result{0, "/etc/hosts\n", ""}, ""},
		{[]string{"ls", "/nope"}, result{code: 1}, "ls: /nope: No such file or directory"},
		{[]string{"sleep", "0"}, result{0, "", ""}, ""},
		{[]string{"sleep", "1ms"}, result{0, "", ""}, ""},
		{[]string{"sleep", "soon"}, result{code: 2}, "invalid time interval"},
		{[]string{"sleep"}, result{code: 2}, "usage"},
		{[]string{"bash", "-c", "true"}, result{code: 127}, "bash: command not found"},
		{[]string{"wget"}, result{code: 2}, "usage"},
		{[]string{"wget", "-O", "out.html", "http://x/"}, result{code: 2}, "only -O -"},
		{[]string{"fetch"}, result{code: 2}, "usage"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got := run(t, env, tc.args...)
			if got.code != tc.want.code || got.stdout != tc.want.stdout {
				t.Errorf("got code %d stdout %q, want %d %q (stderr %q)", got.code, got.stdout, tc.want.code, tc.want.stdout, got.stderr)
			}
			if tc.stderr == "" && got.stderr != "" {
				t.Errorf("unexpected stderr %q", got.stderr)
			}
			if !strings.Contains(got.stderr, tc.stderr) {
				t.Errorf("stderr %q lacks %q", got.stderr, tc.stderr)
			}
		})
	}
}

func TestNoCommandIs127(t *testing.T) {
	if got := run(t, nil); got.code != 127 {
		t.Errorf("empty command: %d", got.code)
	}
}

func TestHasAndCommands(t *testing.T) {
	for _, name := range []string{"echo", "env", "printenv", "hostname", "cat", "true", "false", "sleep", "wget", "fetch", "ls", "nslookup", "sh"} {
		if !Has(name) {
			t.Errorf("Has(%q) = false", name)
		}
	}
	if Has("flotilla") || Has("bash") {
		t.Error("Has answers true for commands it lacks")
	}
	if got := len(Commands()); got != 13 {
		t.Errorf("%d commands: %v", got, Commands())
	}
}

func TestHostnameFallsBackToTheMachines(t *testing.T) {
	if got := run(t, nil, "hostname"); got.code != 0 || got.stdout == "\n" {
		t.Errorf("got %+v", got)
	}
}

func TestSleepEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := runCtx(t, ctx, nil, "sleep", "1h"); got.code != ExitTerminated {
		t.Errorf("got %d, want %d", got.code, ExitTerminated)
	}
}

func TestWgetAndFetchPrintTheBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, `{"version":"v1"}`)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"wget", "-q", "-O", "-", srv.URL + "/"}, 0, `{"version":"v1"}`, ""},
		{[]string{"wget", "-qO-", srv.URL + "/"}, 0, `{"version":"v1"}`, ""},
		{[]string{"wget", "-qO", "-", srv.URL + "/"}, 0, `{"version":"v1"}`, ""},
		{[]string{"wget", "--quiet", "--output-document=-", srv.URL + "/"}, 0, `{"version":"v1"}`, ""},
		{[]string{"wget", srv.URL + "/"}, 0, `{"version":"v1"}`, ""},
		{[]string{"wget", "-x", srv.URL + "/"}, 2, "", "unknown option -x"},
		{[]string{"wget", "-qO", "page.html", srv.URL + "/"}, 2, "", "only -O -"},
		{[]string{"wget", "-O-", "-q", srv.URL + "/"}, 0, `{"version":"v1"}`, ""},
		{[]string{"fetch", srv.URL + "/"}, 0, `{"version":"v1"}`, ""},
		{[]string{"fetch", srv.URL + "/fail"}, 1, "broken\n", "500 Internal Server Error"},
		{[]string{"wget", "-q", "-O", "-", srv.URL + "/fail"}, 1, "broken\n", "500"},
		{[]string{"fetch", "::not a url"}, 1, "", "bad URL"},
	} {
		got := run(t, nil, tc.args...)
		if got.code != tc.code || got.stdout != tc.stdout || !strings.Contains(got.stderr, tc.stderr) {
			t.Errorf("%v: got %+v, want code %d stdout %q stderr ~%q", tc.args, got, tc.code, tc.stdout, tc.stderr)
		}
	}
}

func TestFetchOfAClosedPortFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	got := run(t, nil, "fetch", "http://"+addr+"/")
	if got.code != 1 || !strings.Contains(got.stderr, "fetch: ") {
		t.Errorf("got %+v", got)
	}
	if time.Since(start) > FetchTimeout {
		t.Errorf("a refused connection took %v", time.Since(start))
	}
}

func TestWithLoopbackSendsLocalhostToTheContainersAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.77:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.77: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "mine")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx := WithLoopback(context.Background(), netip.MustParseAddr("127.0.0.77"))
	for _, host := range []string{"localhost", "127.0.0.1"} {
		got := runCtx(t, ctx, nil, "fetch", "http://"+net.JoinHostPort(host, port)+"/")
		if got.code != 0 || got.stdout != "mine" {
			t.Errorf("%s: got %+v, want the container's own server", host, got)
		}
	}
}
