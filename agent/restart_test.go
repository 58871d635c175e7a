package agent

import (
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

func TestExitCauseNamesWhatEndedTheContainer(t *testing.T) {
	for _, tc := range []struct {
		code        int
		killed, err string
		want        string
	}{
		{1, "", "", "exited with code 1"},
		{137, "", "", "exited with code 137 after SIGKILL"},
		{143, "", "", "exited with code 143 after SIGTERM"},
		{137, "liveness probe failed 3 times: HTTP 500", "", "liveness probe failed 3 times: HTTP 500; exited with code 137 after SIGKILL"},
		{2, "", "oom", "exited with code 2 (oom)"},
	} {
		if got := exitCause(tc.code, tc.killed, tc.err); got != tc.want {
			t.Errorf("exitCause(%d, %q, %q) = %q, want %q", tc.code, tc.killed, tc.err, got, tc.want)
		}
	}
}

// maxRestarts 0 is a value, not "use the default": the first exit fails
// the replica so that the scheduler replaces it, whatever the exit code;
// left out it is the default 5.
func TestDecideRestartWithMaxRestartsZeroReplacesAtOnce(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	zero := api.RestartPolicy{Policy: api.RestartAlways, MaxRestarts: new(0), Window: api.Duration(time.Minute),
		Backoff: api.Duration(time.Second), MaxBackoff: api.Duration(time.Minute)}
	for _, code := range []int{0, 1, 137} {
		got := decideRestart(zero, code, nil, now)
		if got.Restart || got.Status != api.AllocFailed || !strings.Contains(got.Reason, "maxRestarts 0") {
			t.Errorf("exit %d with maxRestarts 0: %+v, want the allocation failed, not restarted", code, got)
		}
	}
	onFailure := zero
	onFailure.Policy = api.RestartOnFailure
	if got := decideRestart(onFailure, 0, nil, now); got.Status != api.AllocComplete {
		t.Errorf("on-failure, exit 0, maxRestarts 0: %+v, want complete", got)
	}

	unset := zero
	unset.MaxRestarts = nil // a spec SetDefaults has not seen: the default 5
	recent := []time.Time{now.Add(-4 * time.Second), now.Add(-3 * time.Second), now.Add(-2 * time.Second), now.Add(-time.Second)}
	if got := decideRestart(unset, 1, recent, now); !got.Restart {
		t.Errorf("4 restarts with maxRestarts left out: %+v, want a fifth", got)
	}
	if got := decideRestart(unset, 1, append(recent, now), now); got.Restart {
		t.Errorf("5 restarts with maxRestarts left out: %+v, want the limit", got)
	}

	// Through the decoder, as the agent gets it.
	specs, err := api.DecodeServices("web.yaml", []byte("kind: Service\nname: web\nimage: demo\nrestart: {maxRestarts: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := decideRestart(specs[0].Restart, 1, nil, now); got.Restart {
		t.Errorf("decoded maxRestarts: 0: %+v, want no restart", got)
	}
}
