package agent

import (
	"testing"

	"flotilla/api"
	"flotilla/runtime"
)

func TestAgentReportsTheRuntimesFiguresOfItsRunningAllocations(t *testing.T) {
	servers, rt := newFakeServers(), NewNullRuntime()
	rt.StatsFn = func(id string) runtime.Stats {
		if id == "a1" {
			return runtime.Stats{CPU: 250, Memory: 32 << 20}
		}
		return runtime.Stats{CPU: 50, Memory: 8 << 20}
	}
	servers.setRevision("default", "web", 1, specFor(t, ""))
	servers.setAllocs(desired("a1"), desired("a2"))
	ta := startAgent(t, t.TempDir(), servers, rt)
	ta.until("both running", func() bool {
		return servers.status("a1").Status == api.AllocRunning && servers.status("a2").Status == api.AllocRunning
	})
	var got map[string]api.AllocUsage
	ta.until("a batch with both allocations' figures", func() bool {
		servers.mu.Lock()
		defer servers.mu.Unlock()
		if n := len(servers.usage); n > 0 {
			got = map[string]api.AllocUsage{}
			for _, r := range servers.usage[n-1].Reports {
				got[r.ID] = r
			}
		}
		return len(got) == 2
	})
	if got["a1"].CPU != 250 || got["a1"].Memory != 32<<20 || got["a2"].CPU != 50 {
		t.Fatalf("reported %+v", got)
	}

	// An allocation the servers no longer want is not reported.
	servers.setAllocs(desired("a1"))
	ta.until("a batch with a1 only", func() bool {
		servers.mu.Lock()
		defer servers.mu.Unlock()
		n := len(servers.usage)
		return n > 0 && len(servers.usage[n-1].Reports) == 1 && servers.usage[n-1].Reports[0].ID == "a1"
	})
}
