package agent

import (
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/api"
)

// health scripts exec probes per command: "ready" and "alive" answer what
// the test sets.
type health struct {
	mu    sync.Mutex
	ready bool
	alive bool
}

func (h *health) exec(id string, cmd []string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	ok := map[string]bool{"ready": h.ready, "alive": h.alive}[cmd[0]]
	if ok {
		return 0
	}
	return 1
}

func (h *health) set(ready, alive bool) {
	h.mu.Lock()
	h.ready, h.alive = ready, alive
	h.mu.Unlock()
}

const probedSpec = `probes:
  readiness: {exec: {command: [ready]}, period: 1s, failureThreshold: 2}
  liveness: {exec: {command: [alive]}, period: 1s, failureThreshold: 3}
restart: {policy: always, maxRestarts: 2, backoff: 1s, window: 5m}
`

// eventMessages lists the messages of the reported events of one type.
func (ta *testAgent) eventMessages(typ string) []string {
	ta.servers.mu.Lock()
	defer ta.servers.mu.Unlock()
	var out []string
	for _, b := range ta.servers.batches {
		for _, e := range b.Events {
			if e.Type == typ {
				out = append(out, e.Message)
			}
		}
	}
	return out
}

func (ta *testAgent) events(typ string) int {
	ta.servers.mu.Lock()
	defer ta.servers.mu.Unlock()
	n := 0
	for _, b := range ta.servers.batches {
		for _, e := range b.Events {
			if e.Type == typ {
				n++
			}
		}
	}
	return n
}

func TestReadinessProbeDecidesReadyAndIsReported(t *testing.T) {
	servers, rt := newFakeServers(), NewNullRuntime()
	h := &health{alive: true}
	rt.ExecFn = h.exec
	servers.setRevision("default", "web", 1, specFor(t, probedSpec))
	servers.setAllocs(desired("a1"))
	ta := startAgent(t, t.TempDir(), servers, rt)
	ta.until("running but not ready", func() bool {
		u := servers.status("a1")
		return u.Status == api.AllocRunning && !u.Ready && ta.events(api.EventProbeFailed) == 0
	})
	h.set(true, true)
	ta.until("ready", func() bool { return servers.status("a1").Ready })
	if ta.events(api.EventProbeSucceeded) == 0 {
		t.Fatal("no ProbeSucceeded event reported")
	}
	h.set(false, true)
	ta.until("unready again", func() bool { return !servers.status("a1").Ready })
	if ta.events(api.EventProbeFailed) == 0 {
		t.Fatal("no ProbeFailed event reported")
	}
	if u := servers.status("a1"); u.Status != api.AllocRunning || u.Restarts != 0 {
		t.Fatalf("an unready replica was restarted: %+v", u)
	}
}

func TestLivenessFailuresRestartThenFailTheAllocation(t *testing.T) {
	servers, rt := newFakeServers(), NewNullRuntime()
	h := &health{ready: true, alive: true}
	rt.ExecFn = h.exec
	servers.setRevision("default", "web", 1, specFor(t, probedSpec))
	servers.setAllocs(desired("a1"))
	ta := startAgent(t, t.TempDir(), servers, rt)
	ta.until("ready", func() bool { return servers.status("a1").Ready })

	h.set(true, false) // it hangs: liveness fails from now on
	ta.until("restarted once", func() bool { return servers.status("a1").Restarts == 1 })
	if ta.events(api.EventLivenessKilled) == 0 || ta.events(api.EventAllocationRestart) == 0 {
		t.Fatalf("events: %d liveness, %d restarts", ta.events(api.EventLivenessKilled), ta.events(api.EventAllocationRestart))
	}
	// The restart says why: the probe that killed it and how it exited.
	if msg := ta.eventMessages(api.EventAllocationRestart)[0]; !strings.Contains(msg, "liveness probe failed") ||
		!strings.Contains(msg, "exited with code 137 after SIGKILL") || !strings.Contains(msg, "(1 restart so far)") {
		t.Fatalf("restart event %q, want the liveness failure, the exit and the count", msg)
	}
	ta.until("restarted twice", func() bool { return servers.status("a1").Restarts == 2 })
	ta.until("failed past maxRestarts", ta.reported("a1", api.AllocFailed))
	if msg := servers.status("a1").Message; msg == "" || msg[:len("liveness probe failed 3 times")] != "liveness probe failed 3 times" {
		t.Fatalf("failure message %q, want it to say liveness failed", msg)
	}
}

func TestALivenessKillIsAFailureEvenWhenTheContainerExitsCleanly(t *testing.T) {
	servers, rt := newFakeServers(), NewNullRuntime() // NullRuntime's Stop exits 0
	h := &health{ready: true, alive: true}
	rt.ExecFn = h.exec
	servers.setRevision("default", "web", 1, specFor(t, `probes:
  liveness: {exec: {command: [alive]}, period: 1s, failureThreshold: 1}
restart: {policy: on-failure, maxRestarts: 5, backoff: 1s}
`))
	servers.setAllocs(desired("a1"))
	ta := startAgent(t, t.TempDir(), servers, rt)
	ta.until("ready", func() bool { return servers.status("a1").Ready })
	h.set(true, false)
	ta.until("restarted after the liveness kill", func() bool { return servers.status("a1").Restarts == 1 })
	if st := servers.status("a1").Status; st == api.AllocComplete {
		t.Fatal("a liveness kill under on-failure completed the allocation")
	}
}

func TestARestartedAgentProbesTheContainersItAdopts(t *testing.T) {
	dir := t.TempDir()
	servers, rt := newFakeServers(), NewNullRuntime() // like containerd: containers outlive the agent
	h := &health{ready: true, alive: true}
	rt.ExecFn = h.exec
	servers.setRevision("default", "web", 1, specFor(t, probedSpec))
	servers.setAllocs(desired("a1"))
	first := startAgent(t, dir, servers, rt)
	first.until("ready", func() bool { return servers.status("a1").Ready })
	first.stop()

	// The new agent knows no spec yet; it must fetch it to probe a1.
	second := startAgent(t, dir, servers, rt)
	h.set(false, true)
	second.until("unready, by the new agent's probe", func() bool {
		u := servers.status("a1")
		return u.Status == api.AllocRunning && !u.Ready
	})
	h.set(true, true)
	second.until("ready again", func() bool { return servers.status("a1").Ready })
	if rt.Calls("Create") != 1 || rt.Calls("Start") != 1 {
		t.Fatalf("%d creates, %d starts: the adopted container was recreated", rt.Calls("Create"), rt.Calls("Start"))
	}
}

func TestARecreatedServiceRunsWithItsNewSpecNotTheOldOnesOfTheSameRevision(t *testing.T) {
	servers, rt := newFakeServers(), NewNullRuntime()
	h := &health{alive: true} // the readiness probe fails
	rt.ExecFn = h.exec
	servers.setRevisionAt("default", "web", 1, 10, specFor(t, ""))
	old := desired("old")
	old.RevisionIndex = 10
	servers.setAllocs(old)
	ta := startAgent(t, t.TempDir(), servers, rt)
	ta.until("the old service's replica ready (it has no probe)", func() bool { return servers.status("old").Ready })

	// web is deleted and created again with a readiness probe: revision 1
	// again, at a later index; the old replica is still stopping.
	servers.setRevisionAt("default", "web", 1, 20, specFor(t, probedSpec))
	stopping := desired("old")
	stopping.RevisionIndex, stopping.DesiredStatus = 10, api.DesiredStop
	fresh := desired("new")
	fresh.RevisionIndex = 20
	servers.setAllocs(stopping, fresh)
	ta.until("the new replica running", ta.reported("new", api.AllocRunning))
	for range 40 { // two probe periods on the fake clock
		ta.clock.Advance(50 * time.Millisecond)
		time.Sleep(time.Millisecond) // let the agent's goroutines run between steps; not synchronisation
	}
	if servers.status("new").Ready {
		t.Fatal("the new replica is ready although its readiness probe fails: it ran with the old service's spec")
	}
	h.set(true, true)
	ta.until("ready once its probe passes", func() bool { return servers.status("new").Ready })
}
