package containerd

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/runtime/workload"
)

// What a process writes to stderr right before it exits reaches the log
// (containerd 1.6's own file logging loses it when stdout ends first;
// several containers stopping at once make that likely).
func TestLogsKeepTheLastLinesBeforeAnExit(t *testing.T) {
	address := requireContainerd(t)
	rt := newRuntime(t, Config{Address: address, Node: testNode(t, address), Network: testNetwork(t), StateDir: t.TempDir(), Binary: testBinary(t)})
	var wg sync.WaitGroup
	for range 8 {
		spec := demoSpec(t, 8080)
		runServing(t, rt, spec)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := rt.Stop(ctx, spec.ID, 5*time.Second); err != nil {
				t.Errorf("stop: %v", err)
				return
			}
			var logs strings.Builder
			if err := rt.Logs(ctx, spec.ID, false, &logs); err != nil {
				t.Errorf("logs: %v", err)
			}
			for _, want := range []string{workload.LogShutdown, "msg=" + workload.LogStopped} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("container %s: no %q in its logs after the stop:\n%s", spec.ID, want, logs.String())
				}
			}
		}()
	}
	wg.Wait()
}
