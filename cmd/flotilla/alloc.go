package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"flotilla/agent"
	"flotilla/api"
)

// agentFor finds the agent that runs an allocation (by ID or prefix).
func agentFor(ctx context.Context, g *globals, id string) (*api.Allocation, string, error) {
	c, err := g.client()
	if err != nil {
		return nil, "", err
	}
	a, err := c.Allocation(ctx, id)
	if err != nil {
		return nil, "", err
	}
	n, err := c.Node(ctx, a.Node)
	if err != nil {
		return nil, "", err
	}
	if n.HTTPAddress == "" {
		return nil, "", fmt.Errorf("node %s has no agent API (it was registered without an agent)", n.Name)
	}
	return a, "http://" + n.HTTPAddress, nil
}

func agentError(resp *http.Response) error {
	var e api.ErrorResponse
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = resp.Status
	}
	return fmt.Errorf("agent: %s", e.Error)
}

func newLogsCmd(g *globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs ALLOC",
		Short: "Print an allocation's output (from its node's agent)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, base, err := agentFor(cmd.Context(), g, args[0])
			if err != nil {
				return err
			}
			u := base + "/v1/agent/allocations/" + url.PathEscape(a.ID) + "/logs"
			if follow {
				u += "?follow=true"
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return agentError(resp)
			}
			_, err = io.Copy(cmd.OutOrStdout(), resp.Body)
			if cmd.Context().Err() != nil {
				return nil // interrupted while following
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing as the allocation writes")
	return cmd
}

func newExecCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "exec ALLOC -- COMMAND [ARGS...]",
		Short: "Run a command inside an allocation's container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, base, err := agentFor(cmd.Context(), g, args[0])
			if err != nil {
				return err
			}
			body, _ := json.Marshal(agent.ExecRequest{Command: args[1:]}) // a slice of strings always encodes
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost,
				base+"/v1/agent/allocations/"+url.PathEscape(a.ID)+"/exec", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return agentError(resp)
			}
			var r agent.ExecResponse
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				return err
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
