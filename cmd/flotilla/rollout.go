package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"flotilla/api"
)

func newRolloutCmd(g *globals) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Follow, promote, pause, resume, abort, retry and undo a service's rollout",
		Long: `Every new revision of a service is rolled out with the service's strategy
(ramped, blue-green, canary, ab or shadow). These commands show where the
newest rollout stands and steer it.`,
	}
	cmd.PersistentFlags().StringVarP(&namespace, "namespace", "n", api.DefaultNamespace, "namespace")
	cmd.AddCommand(
		newRolloutStatusCmd(g, &namespace),
		newRolloutActionCmd(g, &namespace, api.ActionPromote, "Move past a manual pause (--full: straight to the end); a shadow ramps up"),
		newRolloutActionCmd(g, &namespace, api.ActionPause, "Hold the rollout where it is"),
		newRolloutActionCmd(g, &namespace, api.ActionResume, "Continue a rollout paused by hand"),
		newRolloutActionCmd(g, &namespace, api.ActionAbort, "Send all traffic back to the stable revision and stop the new one"),
		newRolloutActionCmd(g, &namespace, api.ActionRetry, "Start an aborted or failed rollout again from its first step"),
		newRolloutUndoCmd(g, &namespace),
		newRolloutHistoryCmd(g, &namespace),
		newRolloutDiffsCmd(g, &namespace),
	)
	return cmd
}

// rolloutForOutput is the rollout as -o json|yaml prints it: weights are
// always an object, {} rather than null.
func rolloutForOutput(r *api.Rollout) *api.Rollout {
	if r.Weights != nil {
		return r
	}
	c := *r
	c.Weights = map[int]int{}
	return &c
}

func newRolloutStatusCmd(g *globals, namespace *string) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show where a service's rollout stands (-w to follow it live)",
		Long: `Show the newest rollout of a service: its phase, step, the traffic weight
of each revision with its figures, the reason it is where it is, the time
left in a pause and the latest analysis runs.

With -w the view follows the rollout: redrawn in place on a terminal, one
line per change when piped (one JSON object per change with -o json). It
exits 0 once the rollout completes, 1 when it is aborted or fails, 130 when
interrupted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, out, name := cmd.Context(), cmd.OutOrStdout(), args[0]
			if watch {
				terminal, width := isTerminal(out)
				w := &rolloutWatch{c: c, namespace: *namespace, name: name, out: out, format: g.output,
					terminal: terminal, width: width, now: time.Now}
				return w.run(ctx)
			}
			r, _, err := c.Rollout(ctx, *namespace, name, api.QueryOptions{})
			if err != nil {
				return err
			}
			if g.output != "table" {
				return printObject(out, g.output, rolloutForOutput(r))
			}
			traffic, err := c.Traffic(ctx, *namespace, name)
			if err != nil {
				traffic = nil // figures are a bonus: the rollout is what was asked for
			}
			next := ""
			if svc, _, err := c.Service(ctx, *namespace, name, api.QueryOptions{}); err == nil {
				next = svc.Strategy
			}
			renderRollout(out, r, next, traffic, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "follow the rollout until it completes (exit 0), is aborted or fails (exit 1)")
	return cmd
}

// rolloutActionDone is what an action's confirmation says was asked.
var rolloutActionDone = map[string]string{
	api.ActionPromote: "promotion asked",
	api.ActionPause:   "pause asked",
	api.ActionResume:  "resume asked",
	api.ActionAbort:   "abort asked",
	api.ActionRetry:   "rollout started again",
}

func newRolloutActionCmd(g *globals, namespace *string, action, short string) *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   action + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, name := cmd.Context(), args[0]
			// The rollout as it stood, to say which revision was acted on;
			// the action's own answer is the error that counts.
			before, _, _ := c.Rollout(ctx, *namespace, name, api.QueryOptions{})
			if _, err := c.RolloutAction(ctx, *namespace, name, action, api.RolloutAction{Full: full}); err != nil {
				return fmt.Errorf("%s the rollout of %s: %w", action, name, err)
			}
			msg := name + ": " + rolloutActionDone[action]
			if full {
				msg = name + ": full promotion asked"
			}
			if before != nil {
				msg += fmt.Sprintf(" (revision %d", before.Revision)
				if action == api.ActionAbort && before.StableRevision != before.Revision {
					msg += fmt.Sprintf("; traffic goes back to revision %d", before.StableRevision)
				}
				msg += ")"
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	if action == api.ActionPromote {
		cmd.Flags().BoolVar(&full, "full", false, "promote all the way, skipping the remaining steps, pauses and analysis")
	}
	return cmd
}

func newRolloutUndoCmd(g *globals, namespace *string) *cobra.Command {
	var to int
	cmd := &cobra.Command{
		Use:   "undo NAME [--to-revision N]",
		Short: "Roll out the spec of an older revision again, as a new revision",
		Long: `Roll out the spec of an older revision again (default: the one before the
current revision). It becomes a new revision and is rolled out with the
service's current strategy and replica count.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to < 0 {
				return fmt.Errorf("--to-revision: want a revision number, got %d", to)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, name := cmd.Context(), args[0]
			target := to
			if target == 0 {
				target = previousRevision(cmd, c, *namespace, name)
			}
			r, err := c.UndoRollout(ctx, *namespace, name, api.UndoRequest{ToRevision: to})
			if err != nil {
				return fmt.Errorf("undo the rollout of %s: %w", name, err)
			}
			from := "the previous revision"
			if target > 0 {
				from = fmt.Sprintf("revision %d", target)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: rolling back to the spec of %s as revision %d\n", name, from, r.Revision)
			return nil
		},
	}
	cmd.Flags().IntVar(&to, "to-revision", 0, "the revision whose spec to roll out again (default: the one before the current revision)")
	return cmd
}

// previousRevision is the revision an undo without --to-revision goes
// back to, as the server picks it: the newest kept one before the
// current; 0 when it cannot be told.
func previousRevision(cmd *cobra.Command, c *api.Client, namespace, name string) int {
	svc, _, err := c.Service(cmd.Context(), namespace, name, api.QueryOptions{})
	if err != nil {
		return 0
	}
	revs, err := c.Revisions(cmd.Context(), namespace, name)
	if err != nil {
		return 0
	}
	prev := 0
	for _, r := range revs {
		if r.Revision < svc.Revision && r.Revision > prev {
			prev = r.Revision
		}
	}
	return prev
}

// historyEntry is one revision as `rollout history` shows it.
type historyEntry struct {
	Revision   int       `json:"revision"`
	CreateTime time.Time `json:"createTime"`
	Image      string    `json:"image"`
	Args       []string  `json:"args,omitempty"`
	// Changes names the spec fields that differ from the revision before.
	Changes []string `json:"changes"`
	Current bool     `json:"current"`
	Stable  bool     `json:"stable"`
}

func newRolloutHistoryCmd(g *globals, namespace *string) *cobra.Command {
	return &cobra.Command{
		Use:   "history NAME",
		Short: "List a service's kept revisions and what each changed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, out, name := cmd.Context(), cmd.OutOrStdout(), args[0]
			revs, err := c.Revisions(ctx, *namespace, name)
			if err != nil {
				return err
			}
			sort.Slice(revs, func(i, j int) bool { return revs[i].Revision < revs[j].Revision })
			current, stable := 0, 0
			if r, _, err := c.Rollout(ctx, *namespace, name, api.QueryOptions{}); err == nil {
				current, stable = r.Revision, r.StableRevision
				if r.Phase == api.PhaseCompleted {
					// The revision it rolled out over is history now.
					stable = r.Revision
				}
			} else if len(revs) > 0 {
				current = revs[len(revs)-1].Revision
			}
			entries := historyEntries(revs, current, stable)
			if g.output != "table" {
				return printObject(out, g.output, entries)
			}
			t := newTable(out, "REVISION", "CREATED", "IMAGE", "ARGS", "CHANGE")
			for _, e := range entries {
				rev := fmt.Sprint(e.Revision)
				switch {
				case e.Current && e.Stable:
					rev += " (current, stable)"
				case e.Current:
					rev += " (current)"
				case e.Stable:
					rev += " (stable)"
				}
				change := strings.Join(e.Changes, ", ")
				if e.Revision == 1 {
					change = "created"
				}
				t.row(rev, e.CreateTime.Local().Format("2006-01-02 15:04:05"), e.Image, shorten(strings.Join(e.Args, " "), 32), change)
			}
			return t.flush()
		},
	}
}

// historyEntries lists revs (oldest first) with what each changed from the
// one before it.
func historyEntries(revs []*api.Revision, current, stable int) []historyEntry {
	entries := make([]historyEntry, 0, len(revs))
	for i, r := range revs {
		e := historyEntry{Revision: r.Revision, CreateTime: r.CreateTime, Image: r.Spec.Image, Args: r.Spec.Args,
			Changes: []string{}, Current: r.Revision == current, Stable: r.Revision == stable}
		if i > 0 {
			e.Changes = specChanges(revs[i-1].Spec, r.Spec)
			e.Changes = append(e.Changes, fileChanges(revs[i-1].Files, r.Files)...) // files.go
		}
		entries = append(entries, e)
	}
	return entries
}

// specChanges names the top-level spec fields (as spelled in YAML) that
// differ between two revisions.
func specChanges(prev, cur api.ServiceSpec) []string {
	a, b := specFields(prev), specFields(cur)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	changes := []string{}
	for k := range keys {
		if k == "kind" || k == "name" || k == "namespace" {
			continue
		}
		if !bytes.Equal(a[k], b[k]) {
			changes = append(changes, k)
		}
	}
	// The fields people change most often first, then by name.
	rank := func(k string) int {
		switch k {
		case "image":
			return 0
		case "args":
			return 1
		case "command":
			return 2
		case "env":
			return 3
		}
		return 4
	}
	sort.Slice(changes, func(i, j int) bool {
		if ri, rj := rank(changes[i]), rank(changes[j]); ri != rj {
			return ri < rj
		}
		return changes[i] < changes[j]
	})
	return changes
}

func specFields(s api.ServiceSpec) map[string]json.RawMessage {
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// shorten cuts s to n runes with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// printRolloutSection is the Rollout section of `describe service`.
func printRolloutSection(w io.Writer, r *api.Rollout, next string) {
	fmt.Fprintln(w, "\nRollout:")
	fmt.Fprintf(w, "  Strategy:  %s\n", strategyText(r, next))
	phase := r.Phase
	if s := stepText(r); s != "" {
		phase += ", " + s
	}
	fmt.Fprintf(w, "  Phase:     %s\n", phase)
	fmt.Fprintf(w, "  Revision:  %s\n", revisionText(r))
	fmt.Fprintf(w, "  Weights:   %s\n", weightsText(r.Weights))
	fmt.Fprintf(w, "  Reason:    %s\n", r.Reason)
	if name := previewName(r); name != "" {
		fmt.Fprintf(w, "  Preview:   %s (%s)\n", name, r.PreviewVIP)
	}
	if n := len(r.Analysis); n > 0 {
		a := r.Analysis[n-1]
		// The message gives both revisions' figures.
		fmt.Fprintf(w, "  Analysis:  %s at %s (step %d): %s\n", a.Verdict, a.Time.Local().Format("15:04:05"), a.Step, a.Message)
	}
	renderAB(w, r, "  ", time.Now())
}
