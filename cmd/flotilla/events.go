package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"flotilla/api"
)

func newEventsCmd(g *globals) *cobra.Command {
	var follow bool
	var namespace, service, node string
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show what happened in the cluster, with reasons (-f to follow)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			if service != "" && namespace == "" {
				namespace = api.DefaultNamespace
			}
			f := api.EventFilter{Namespace: namespace, Service: service, Node: node}
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			print := func(e *api.Event) error {
				if g.output != "table" {
					b, err := json.Marshal(e)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintln(out, string(b))
					return err
				}
				_, err := fmt.Fprintf(out, "%s  %-22s %s\n", e.Time.Local().Format("15:04:05"), e.Type, e.Message)
				return err
			}
			events, _, err := c.Events(cmd.Context(), f, api.QueryOptions{})
			if err != nil {
				return err
			}
			if !follow && g.output != "table" {
				return printObject(out, g.output, events)
			}
			var last uint64
			for _, e := range events {
				if err := print(e); err != nil {
					return err
				}
				last = e.ID
			}
			if !follow {
				return nil
			}
			return streamEvents(cmd.Context(), c, f, last, print)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing events as they happen")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "only this namespace's events")
	cmd.Flags().StringVar(&service, "service", "", "only this service's events")
	cmd.Flags().StringVar(&node, "node", "", "only this node's events")
	return cmd
}

// streamEvents follows the server-sent event stream from after, moving to
// another server when one goes away.
func streamEvents(ctx context.Context, c *api.Client, f api.EventFilter, after uint64, print func(*api.Event) error) error {
	q := url.Values{}
	for k, v := range map[string]string{"namespace": f.Namespace, "service": f.Service, "node": f.Node} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for i := 0; ; i++ {
		addrs := c.Addresses()
		base := addrs[i%len(addrs)]
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/events?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "text/event-stream")
		if after > 0 {
			req.Header.Set("Last-Event-ID", fmt.Sprint(after))
		}
		resp, err := streamClient(c).Do(req)
		if err == nil {
			after, err = readStream(resp.Body, after, print)
			resp.Body.Close()
		}
		if ctx.Err() != nil {
			return nil
		}
		if i >= 20*len(addrs) {
			return fmt.Errorf("event stream: %w", err)
		}
	}
}

func readStream(body io.Reader, after uint64, print func(*api.Event) error) (uint64, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e api.Event
		if json.Unmarshal([]byte(data), &e) != nil || e.ID == 0 {
			continue
		}
		if err := print(&e); err != nil {
			return after, err
		}
		after = e.ID
	}
	return after, sc.Err()
}
