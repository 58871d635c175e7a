package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/testutil"
)

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		data string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc\n", 1, "c\n"},
		{"a\nb\nc\n", 3, "a\nb\nc\n"},
		{"a\nb\nc\n", 9, "a\nb\nc\n"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\nc\n", 0, ""},
		{"a\nb\nc\n", -1, "a\nb\nc\n"},
		{"a\n\n\nb\n", 2, "\nb\n"},
		{"", 3, ""},
	} {
		if got := string(lastLines([]byte(tc.data), tc.n)); got != tc.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tc.data, tc.n, got, tc.want)
		}
	}
}

func TestLogsTailAndFollowAcrossANewFile(t *testing.T) {
	l := fakeLab(t)
	log := l.Processes[0].Log
	if err := os.WriteFile(log, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := l.Logs(t.Context(), "n1", false, 2, &out); err != nil || out.String() != "two\nthree\n" {
		t.Fatalf("tail 2: %q %v", out.String(), err)
	}
	if err := l.Logs(t.Context(), "n9", false, -1, &out); err == nil || !strings.Contains(err.Error(), "no node \"n9\"") {
		t.Fatalf("an unknown node: %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	var followed testutil.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- l.Logs(ctx, "n1", true, 1, &followed) }()
	waitOutput := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for followed.String() != want {
			if time.Now().After(deadline) {
				t.Fatalf("followed %q, want %q", followed.String(), want)
			}
			time.Sleep(10 * time.Millisecond) // polling what the follower wrote
		}
	}
	waitOutput("three\n")
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("four\n")
	f.Close()
	waitOutput("three\nfour\n")
	// A new lab up starts the file again.
	if err := os.WriteFile(log, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitOutput("three\nfour\nnew\n")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWaitReadyFailsWhenTheProcessIsNotRunning(t *testing.T) {
	l := fakeLab(t)
	os.WriteFile(l.Processes[0].Log, []byte("flotilla agent n1: fatal: no servers\n"), 0o644)
	err := l.WaitReady(t.Context(), "n1", time.Second)
	if err == nil || !strings.Contains(err.Error(), "n1 exited") || !strings.Contains(err.Error(), "fatal: no servers") {
		t.Fatalf("got %v, want the exit and the log's last lines", err)
	}
}

func TestEnvExportsTheDNSServerForEveryShell(t *testing.T) {
	l := &Lab{Name: "e", Dir: "/srv/labs/e", Processes: []Process{{Name: "s1", Role: RoleServer, HTTP: "127.0.0.1:4646"},
		{Name: "n1", Role: RoleAgent, DNS: "127.0.0.1:4755"}}}
	want := "export FLOTILLA_ADDR=http://127.0.0.1:4646\nexport FLOTILLA_LAB=e\nexport FLOTILLA_LAB_DIR=/srv/labs\n" +
		"export FLOTILLA_DNS_SERVER=127.0.0.1\nexport FLOTILLA_DNS_PORT=4755\nexport FLOTILLA_DNS_ADDR=127.0.0.1:4755\n" +
		"export FLOTILLA_DNS=\"127.0.0.1 -p 4755\"\n"
	if got := l.Env(); got != want {
		t.Errorf("Env() =\n%s\nwant\n%s", got, want)
	}
}

func TestRefusedUpLeavesNoDirectory(t *testing.T) {
	root := t.TempDir()
	for attempt := 0; attempt < 5; attempt++ {
		base := 30000 + rand.IntN(200)*100
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+110)) // n2's API
		if err != nil {
			continue
		}
		_, err = Up(t.Context(), Config{Name: "taken", Root: root, Servers: 1, Agents: 2, Runtime: "sim", BasePort: base, Binary: "/bin/false"}, nil)
		ln.Close()
		if err == nil {
			t.Fatal("lab up succeeded with a port taken")
		}
		if _, statErr := os.Stat(filepath.Join(root, "taken")); !errors.Is(statErr, fs.ErrNotExist) {
			t.Fatalf("a refused lab up (%v) left its directory: %v", err, statErr)
		}
		return
	}
	t.Skip("no free port to hold")
}

// TestWaitReadyAsksTheNextServerWhenOneIsGone: with the first server of
// the lab killed (a killed leader), a restarted agent is still seen ready
// through the others.
func TestWaitReadyAsksTheNextServerWhenOneIsGone(t *testing.T) {
	l := fakeLab(t)
	if err := l.Restart("n1"); err != nil {
		t.Fatal(err)
	}
	agentAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/agent/allocations" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("[]"))
	}))
	defer agentAPI.Close()
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/nodes/n1" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(api.Node{Name: "n1", Status: api.NodeReady})
	}))
	defer server.Close()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone.Close() // refuses from now on
	l.Processes[0].HTTP = strings.TrimPrefix(agentAPI.URL, "http://")
	l.Processes = append(l.Processes,
		Process{Name: "s1", Role: RoleServer, HTTP: gone.Addr().String()},
		Process{Name: "s2", Role: RoleServer, HTTP: strings.TrimPrefix(server.URL, "http://")})
	if err := l.WaitReady(t.Context(), "n1", 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
