package agent

import "testing"

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
