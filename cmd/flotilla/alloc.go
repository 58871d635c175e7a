package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"flotilla/agent"
	"flotilla/api"
)

// Bounds on reaching an allocation's agent: connecting, and (for logs,
// whose answer starts at once) the first byte of the answer, so that a
// hung node (paused, cut off) gets a message rather than a wait.
const (
	agentDialTimeout   = 5 * time.Second
	agentHeaderTimeout = 10 * time.Second
)

// allocAgent is an allocation and the agent of the node it is on.
type allocAgent struct {
	alloc  *api.Allocation
	node   *api.Node
	base   string      // http://HOST:PORT, or https:// with TLS
	tls    *tls.Config // the CLI's client TLS: agents answer it as servers do
	client *api.Client // the cluster's API, which found them
}

// agentFor finds the agent that runs an allocation (by ID or prefix). A
// node that is down is said so at once: what was asked for ("read the
// logs of") cannot be done.
func agentFor(ctx context.Context, g *globals, id, what string) (*allocAgent, error) {
	c, err := g.client()
	if err != nil {
		return nil, err
	}
	a, err := c.Allocation(ctx, id)
	if err != nil {
		return nil, err
	}
	n, err := c.Node(ctx, a.Node)
	if err != nil {
		return nil, err
	}
	if n.HTTPAddress == "" {
		return nil, fmt.Errorf("node %s has no agent API (it was registered without an agent)", n.Name)
	}
	if n.Status == api.NodeDown {
		return nil, fmt.Errorf("%s: cannot %s allocation %s", nodeDown(n), what, a.ID)
	}
	aa := &allocAgent{alloc: a, node: n, base: "http://" + n.HTTPAddress, client: c}
	if aa.tls, err = g.tls.config(); err != nil {
		return nil, err
	}
	if aa.tls != nil {
		aa.base = "https://" + n.HTTPAddress
	}
	return aa, nil
}

// do sends a request to the agent; a failure to reach it says the node is
// down or unreachable, not how the dial failed.
func (aa *allocAgent) do(req *http.Request, headerTimeout time.Duration) (*http.Response, error) {
	client := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: agentDialTimeout}).DialContext,
		ResponseHeaderTimeout: headerTimeout,
		TLSClientConfig:       aa.tls,
	}}
	resp, err := client.Do(req)
	if err != nil && req.Context().Err() == nil {
		return nil, fmt.Errorf("node %s is down or unreachable: its agent at %s %s (flotilla get nodes %s)",
			aa.node.Name, aa.node.HTTPAddress, unreachableReason(err), aa.node.Name)
	}
	return resp, err
}

// nodeDown says since when and why a node is down: "node n2 is down
// (since 10:04:05: gossip: agent failed)".
func nodeDown(n *api.Node) string {
	why := ""
	if n.StatusMessage != "" {
		why = ": " + n.StatusMessage
	}
	return fmt.Sprintf("node %s is down (since %s%s)", n.Name, n.StatusTime.Local().Format(time.TimeOnly), why)
}

// whileNodeUp is ctx, ended when the cluster marks the agent's node down
// or unreachable, with that as its cause (context.Cause): a command or a
// follow that waits on the agent ends so, rather than hanging on a node
// that stopped answering after it began (paused, cut off). The watch is a
// blocking query on the node; stop ends it.
func (aa *allocAgent) whileNodeUp(ctx context.Context) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		index := aa.node.ModifyIndex
		for {
			n, i, err := aa.client.WatchNode(ctx, aa.node.Name, api.QueryOptions{Index: index, Wait: time.Minute})
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				// The servers are not answering: the agent may still be.
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				continue
			case n.Status == api.NodeDown:
				cancel(fmt.Errorf("%s: its agent stopped answering for allocation %s", nodeDown(n), aa.alloc.ID))
				return
			case n.Unreachable:
				// Its status (and the time and reason of it) is still
				// ready: gossip's verdict has no time of its own here.
				cancel(fmt.Errorf("node %s is unreachable (gossip declared its agent dead): its agent stopped answering for allocation %s",
					n.Name, aa.alloc.ID))
				return
			}
			index = i
		}
	}()
	return ctx, func() { cancel(nil) }
}

// ended is what a request to the agent under ctx (from whileNodeUp) ends
// with: the node's state when the cluster marked it down or unreachable,
// or err.
func ended(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// unreachableReason is the end of "its agent at ADDR ...".
func unreachableReason(err error) string {
	var op *net.OpError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refuses connections"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "does not answer"
	case errors.As(err, &op):
		var inner error = op.Err
		for errors.Unwrap(inner) != nil {
			inner = errors.Unwrap(inner)
		}
		return "cannot be reached (" + inner.Error() + ")"
	}
	return "cannot be reached (" + err.Error() + ")"
}

func agentError(resp *http.Response) error {
	var e api.ErrorResponse
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = resp.Status
	}
	return fmt.Errorf("agent: %s", e.Error)
}

// parseSince reads --since: a duration back from now (10m, 1h30m) or a
// time (RFC 3339: 2026-01-02T15:04:05Z, or with an offset).
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration (10m, 1h) or a time (2006-01-02T15:04:05Z)", s)
}

func newLogsCmd(g *globals) *cobra.Command {
	var follow bool
	var tail int
	var since string
	cmd := &cobra.Command{
		Use:   "logs ALLOC",
		Short: "Print an allocation's output (from its node's agent)",
		Example: `  flotilla logs web-3f2a9 --tail 20 -f     # the last 20 lines, then what comes
  flotilla logs web-3f2a9 --since 10m      # what it wrote in the last 10 minutes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if follow {
				q.Set("follow", "true")
			}
			if cmd.Flags().Changed("tail") {
				if tail < 0 {
					return fmt.Errorf("--tail %d: want 0 or more lines", tail)
				}
				q.Set("tail", strconv.Itoa(tail))
			}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				q.Set("since", t.UTC().Format(time.RFC3339Nano))
			}
			aa, err := agentFor(cmd.Context(), g, args[0], "read the logs of")
			if err != nil {
				return err
			}
			u := aa.base + "/v1/agent/allocations/" + url.PathEscape(aa.alloc.ID) + "/logs"
			if len(q) > 0 {
				u += "?" + q.Encode()
			}
			ctx, stop := aa.whileNodeUp(cmd.Context())
			defer stop()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			g.setAgentToken(req)
			resp, err := aa.do(req, agentHeaderTimeout)
			if err != nil {
				return ended(ctx, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return agentError(resp)
			}
			_, err = io.Copy(cmd.OutOrStdout(), resp.Body)
			if cmd.Context().Err() != nil {
				return nil // interrupted while following
			}
			return ended(ctx, err)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing as the allocation writes")
	cmd.Flags().IntVar(&tail, "tail", -1, "print only the last N lines (then, with -f, what comes)")
	cmd.Flags().StringVar(&since, "since", "", "print only the lines written since a duration ago (10m) or a time (RFC 3339)")
	return cmd
}

func newExecCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "exec ALLOC -- COMMAND [ARGS...]",
		Short: "Run a command inside an allocation's container",
		Long: `Run a command inside an allocation's container and print its output.

In the demo image and in sim labs the commands are the toolbox's: echo, env,
printenv, hostname, cat, ls [-1aAdhl], true, false, sleep, wget, fetch,
nslookup, and sh -c 'COMMANDS' (lists with ;, && and ||, quoting and
$VARIABLES; no pipes or redirections). Names resolve through the node's
cluster DNS server: wget -qO- http://web:8080/ reaches service web.`,
		Example: `  flotilla exec web-3f2a9 -- ls -la /
  flotilla exec web-3f2a9 -- sh -c 'echo $HOSTNAME && wget -qO- http://web.default.svc.flotilla:8080/'`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			aa, err := agentFor(cmd.Context(), g, args[0], "run a command in")
			if err != nil {
				return err
			}
			body, _ := json.Marshal(agent.ExecRequest{Command: args[1:]}) // a slice of strings always encodes
			ctx, stop := aa.whileNodeUp(cmd.Context())
			defer stop()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost,
				aa.base+"/v1/agent/allocations/"+url.PathEscape(aa.alloc.ID)+"/exec", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			g.setAgentToken(req)
			resp, err := aa.do(req, 0) // the answer comes when the command ends
			if err != nil {
				return ended(ctx, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return agentError(resp)
			}
			var r agent.ExecResponse
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				return ended(ctx, err)
			}
			fmt.Fprint(cmd.OutOrStdout(), r.Stdout)
			fmt.Fprint(cmd.ErrOrStderr(), r.Stderr)
			if r.ExitCode != 0 {
				return silentExit(r.ExitCode)
			}
			return nil
		},
	}
}
