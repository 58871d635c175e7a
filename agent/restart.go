package agent

import (
	"fmt"
	"time"

	"flotilla/api"
)

// restartDecision is what to do with a container that exited while its
// allocation should run.
type restartDecision struct {
	// Restart after Wait; otherwise the allocation ends with Status.
	Restart bool
	Wait    time.Duration
	Status  string // api.AllocComplete or api.AllocFailed when not restarting
	Reason  string
}

// decideRestart applies a restart policy (Kubernetes' semantics, Nomad's
// limit): never restarts nothing; on-failure restarts only non-zero exits;
// always restarts every exit. At most MaxRestarts restarts within Window;
// past that the allocation fails, and the scheduler replaces it, preferably
// elsewhere: with MaxRestarts 0 the first exit does (Nomad's attempts = 0),
// so a replica is replaced rather than restarted in place. The wait doubles
// from Backoff with every recent restart, up to MaxBackoff. recent holds
// the times of earlier restarts.
func decideRestart(p api.RestartPolicy, exitCode int, recent []time.Time, now time.Time) restartDecision {
	exited := fmt.Sprintf("exited with code %d", exitCode)
	switch {
	case p.Policy == api.RestartNever, p.Policy == api.RestartOnFailure && exitCode == 0:
		if exitCode == 0 {
			return restartDecision{Status: api.AllocComplete, Reason: exited}
		}
		return restartDecision{Status: api.AllocFailed, Reason: exited}
	}
	n := 0
	for _, t := range recent {
		if now.Sub(t) < p.Window.Std() {
			n++
		}
	}
	limit := p.MaxRestartsOrDefault()
	if limit == 0 {
		return restartDecision{Status: api.AllocFailed,
			Reason: exited + "; not restarted in place (maxRestarts 0): replaced"}
	}
	if n >= limit {
		return restartDecision{Status: api.AllocFailed,
			Reason: fmt.Sprintf("%s; restarted %d times in %s, the limit", exited, n, p.Window)}
	}
	wait := p.Backoff.Std()
	for i := 0; i < n && wait < p.MaxBackoff.Std(); i++ {
		wait *= 2
	}
	wait = min(wait, p.MaxBackoff.Std())
	return restartDecision{Restart: true, Wait: wait, Reason: fmt.Sprintf("%s; restarting in %s", exited, api.Duration(wait))}
}
