package lab

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"flotilla/api"
)

// readyPoll is how often WaitReady looks again.
const readyPoll = 50 * time.Millisecond

// WaitReady waits until one process of the lab is ready again (after
// Restart): a server that knows a leader; an agent whose API answers (it
// has registered and its runtime is up) and whose node the servers see
// ready. It fails at once when the process exits, naming its log.
func (l *Lab) WaitReady(ctx context.Context, name string, timeout time.Duration) error {
	p, err := l.Process(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// One client for every look: after a server refuses, the next look
	// asks another (a new client would start at the first address again,
	// which may be a killed leader's); and one connection pool.
	var check func(ctx context.Context, p *Process) string
	if p.Role == RoleServer {
		client, err := l.clientOf(p.HTTP)
		if err != nil {
			return err
		}
		client.AttemptTimeout, client.RetryFor = time.Second, 0
		check = func(ctx context.Context, p *Process) string { return serverReady(ctx, client) }
	} else {
		client, err := l.Client()
		if err != nil {
			return err
		}
		client.AttemptTimeout, client.RetryFor = time.Second, 0
		agentAPI, err := l.HTTPClient(time.Second)
		if err != nil {
			return err
		}
		check = func(ctx context.Context, p *Process) string { return l.agentReady(ctx, client, agentAPI, p) }
	}
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	last := "it has not been asked yet"
	for {
		if !alive(p) {
			return fmt.Errorf("%s exited (see %s)%s", name, p.Log, l.logTail(p, 5))
		}
		why := check(ctx, p)
		if why == "" {
			return nil
		}
		if ctx.Err() == nil { // a look cut short by the deadline says nothing new
			last = why
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not ready after %s: %s", name, timeout, last)
		case <-tick.C:
		}
	}
}

// serverReady says why a server is not ready yet ("" when it is).
func serverReady(ctx context.Context, client *api.Client) string {
	leader, err := client.Leader(ctx)
	switch {
	case err != nil:
		return err.Error()
	case leader.Leader == "":
		return "it knows no leader yet"
	}
	return ""
}

// agentReady says why an agent is not ready yet ("" when it is).
func (l *Lab) agentReady(ctx context.Context, client *api.Client, agentAPI *http.Client, p *Process) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.scheme()+"://"+p.HTTP+"/v1/agent/allocations", nil)
	if err != nil {
		return err.Error()
	}
	if t := client.Token(); t != "" {
		req.Header.Set(api.TokenHeader, t)
	}
	resp, err := agentAPI.Do(req)
	if err != nil {
		return "its API does not answer yet"
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "it is still registering"
	}
	node, err := client.Node(ctx, p.Name)
	switch {
	case err != nil:
		return "the servers do not answer: " + err.Error()
	case node.Status != api.NodeReady:
		return "the servers see node " + p.Name + " " + node.Status
	}
	return ""
}
