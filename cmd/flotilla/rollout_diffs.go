package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"flotilla/api"
)

func newRolloutDiffsCmd(g *globals, namespace *string) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "diffs NAME",
		Short: "Show how a shadow rollout's answers differ from the stable ones, field by field",
		Long: `Show a shadow rollout's comparisons, merged over every node's proxy: per
endpoint ("GET /items") and per field path ("status", "header.X-Foo",
"body.items[*].price"), how often the new revision's answer differed from
the stable one the client got (candidate), how often a second stable
replica's did (noise), how many differences count against the new revision
once noise is taken out (counted, and their rate over the judged
comparisons), and a few recorded examples: the request line, the field and
both values.

A field is noise when the stable replicas differ there themselves
(timestamps, hostnames, IDs) and the new revision does not differ much
more often. Examples are shown for the fields that count; --all shows those
of noise fields too.

The figures live on the leader, in memory, and come again from the proxies
within a second of a leader change; they are kept about 10 minutes after
the rollout stops mirroring.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			diffs := func(c *api.Client, ctx context.Context) (*api.RolloutDiffs, error) {
				return c.RolloutDiffs(ctx, *namespace, args[0])
			}
			return fetchAndPrint(cmd, g, "", diffs, func(w io.Writer, d *api.RolloutDiffs) error {
				renderDiffs(w, d, all, time.Now())
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "show the examples of noise fields too")
	return cmd
}

// renderDiffs writes what `rollout diffs` shows.
func renderDiffs(w io.Writer, d *api.RolloutDiffs, all bool, now time.Time) {
	r := d.Report
	fmt.Fprintf(w, "Service:     %s/%s\n", d.Namespace, d.Service)
	fmt.Fprintf(w, "Rollout:     shadow of revision %d over stable %d (%s)\n", d.Revision, d.StableRevision, d.Phase)
	if d.Nodes == 0 {
		fmt.Fprintln(w, "Compared:    nothing yet: no proxy has reported comparisons (none mirrored yet, or the figures are gone)")
		return
	}
	dropped := ""
	if r.Dropped > 0 {
		dropped = fmt.Sprintf(", %d not mirrored (too many in flight)", r.Dropped)
	}
	fmt.Fprintf(w, "Compared:    %d of %d mirrored requests%s, from %s, updated %s ago\n",
		r.Comparisons, r.Mirrored, dropped, countOf(d.Nodes, "proxy", "proxies"), ago(d.Updated, now))
	if d.Baseline > 0 {
		fmt.Fprintf(w, "Noise:       %d baseline comparisons (%s of mirrored requests also went to a second stable replica)\n", r.NoiseComparisons, d.Baseline)
	} else {
		fmt.Fprintln(w, "Noise:       not learned (baseline 0%): every difference counts")
	}
	fmt.Fprintf(w, "Diff rate:   %s: %d of %d judged comparisons differ in a field that is not noise\n", percent(r.DiffRate), r.Differing, r.Judged)
	for _, e := range r.Endpoints {
		learning := ""
		if e.Learning {
			learning = "; learning noise, not judged yet"
		}
		fmt.Fprintf(w, "\n%s: %d compared, %d judged, diff rate %s, %d noise comparisons%s\n",
			e.Endpoint, e.Comparisons, e.Judged, percent(e.DiffRate), e.NoiseComparisons, learning)
		if len(e.Fields) == 0 {
			fmt.Fprintln(w, "  no differences")
			continue
		}
		t := newTable(w, "  FIELD", "CANDIDATE", "NOISE", "COUNTED", "DIFF RATE", "VERDICT")
		for _, f := range e.Fields {
			verdict := "counts"
			switch {
			case f.Noise:
				verdict = "noise"
			case f.Counted == 0:
				verdict = "not judged"
			}
			t.row("  "+f.Field, fmt.Sprintf("%d (%s)", f.CandidateDiffs, percent(f.CandidateRate)),
				fmt.Sprintf("%d (%s)", f.NoiseDiffs, percent(f.NoiseRate)), f.Counted, percent(f.DiffRate), verdict)
		}
		t.flush()
		var examples []string
		for _, f := range e.Fields {
			if f.Noise && !all {
				continue
			}
			for _, ex := range f.Examples {
				examples = append(examples, fmt.Sprintf("    %s  %s (%s): %s -> %s", ex.Request, ex.Path, ex.Kind, exampleValue(ex.Stable), exampleValue(ex.Candidate)))
			}
		}
		if len(examples) > 0 {
			fmt.Fprintln(w, "  examples (request, field: stable -> new):")
			fmt.Fprintln(w, strings.Join(examples, "\n"))
		}
	}
}

func exampleValue(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// renderShadow writes the shadow block of `rollout status`: the figures
// the rollout last took from the proxies and the last verdict.
func renderShadow(w io.Writer, r *api.Rollout, now time.Time) {
	s := r.Shadow
	if s == nil || r.Strategy != api.RolloutShadow {
		return
	}
	when := ""
	if !s.Time.IsZero() {
		when = fmt.Sprintf(" (as of %s ago)", ago(s.Time, now))
	}
	fmt.Fprintf(w, "\nShadow%s:\n", when)
	dropped := ""
	if s.Dropped > 0 {
		dropped = fmt.Sprintf(" (%d not mirrored)", s.Dropped)
	}
	fmt.Fprintf(w, "  mirrored %d%s, compared %d, noise comparisons %d\n", s.Mirrored, dropped, s.Comparisons, s.NoiseComparisons)
	learning := ""
	if s.Learning {
		learning = "; some endpoints still learning noise"
	}
	fmt.Fprintf(w, "  diff rate %s (%d of %d judged comparisons)%s\n", percent(s.DiffRate), s.Differing, s.Judged, learning)
	if len(s.NoiseFields) > 0 {
		fmt.Fprintf(w, "  noise fields: %s\n", strings.Join(s.NoiseFields, ", "))
	}
	if len(s.DiffFields) > 0 {
		var parts []string
		for _, f := range s.DiffFields {
			parts = append(parts, fmt.Sprintf("%s %d (%s)", f.Field, f.Counted, percent(f.DiffRate)))
		}
		fmt.Fprintf(w, "  differing: %s\n", strings.Join(parts, ", "))
	}
	if n := len(r.Analysis); n > 0 {
		a := r.Analysis[n-1]
		verdict := a.Verdict
		if a.Metric != "" {
			verdict += " (" + a.Metric + ")"
		}
		fmt.Fprintf(w, "  verdict: %s\n", verdict)
	}
	fmt.Fprintf(w, "  per field: flotilla rollout diffs %s\n", r.Service)
}
