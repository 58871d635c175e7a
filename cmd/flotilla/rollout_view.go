package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"flotilla/api"
	rolloutctl "flotilla/scheduler/rollout"
)

// The live view of `rollout status -w`: it follows the rollout with
// blocking queries and, on a terminal, redraws one block in place every
// second (countdowns and traffic move even when the rollout does not);
// piped, it appends one line per change so that logs and scripts read it.

// rolloutWait is how long one blocking query may be held by the server.
const rolloutWait = 5 * time.Second

// rolloutRefresh is how often a terminal view is redrawn.
const rolloutRefresh = time.Second

// Exit codes of `rollout status -w`.
const (
	exitRolloutEnded       = 1   // aborted or failed
	exitRolloutInterrupted = 130 // Ctrl-C, as a shell reports SIGINT
)

// rolloutWatch follows one service's rollout until it ends.
type rolloutWatch struct {
	c         *api.Client
	namespace string
	name      string
	out       io.Writer
	format    string // table, json or yaml
	// terminal is set when out is a terminal: redraw in place.
	terminal bool
	width    int // terminal columns; 0 when unknown
	now      func() time.Time
}

// rolloutUpdate is one answer of the blocking query.
type rolloutUpdate struct {
	r   *api.Rollout
	err error
}

// run follows the rollout: nil once it completes, silentExit(1) when it is
// aborted or fails, silentExit(130) when ctx ends first (Ctrl-C).
func (w *rolloutWatch) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates := make(chan rolloutUpdate)
	go w.follow(ctx, updates)

	var tick <-chan time.Time
	if w.terminal && w.format == "table" {
		t := time.NewTicker(rolloutRefresh)
		defer t.Stop()
		tick = t.C
		fmt.Fprint(w.out, "\x1b[?25l") // hide the cursor while redrawing
		defer fmt.Fprint(w.out, "\x1b[?25h")
	}
	var (
		current  *api.Rollout
		lastKey  string
		drawn    int // lines of the block on screen
		traffic  *api.ServiceTraffic
		analyzed time.Time // newest analysis run already reported
	)
	redraw := func() {
		traffic = w.traffic(ctx)
		var b bytes.Buffer
		renderRollout(&b, current, "", traffic, w.now())
		lines := strings.SplitAfter(strings.TrimSuffix(b.String(), "\n"), "\n")
		var out strings.Builder
		if drawn > 0 {
			fmt.Fprintf(&out, "\x1b[%dA\r\x1b[J", drawn) // back to the block's top, clear below
		}
		for _, l := range lines {
			out.WriteString(clip(strings.TrimSuffix(l, "\n"), w.width))
			out.WriteString("\n")
		}
		io.WriteString(w.out, out.String())
		drawn = len(lines)
	}
	for {
		select {
		case <-ctx.Done():
			return silentExit(exitRolloutInterrupted)
		case <-tick:
			if current != nil {
				redraw()
			}
		case u := <-updates:
			if u.err != nil {
				if ctx.Err() != nil {
					return silentExit(exitRolloutInterrupted)
				}
				return fmt.Errorf("follow the rollout of %s/%s: %w", w.namespace, w.name, u.err)
			}
			current = u.r
			key := changeKey(current)
			switch {
			case w.terminal && w.format == "table":
				redraw()
			case key == lastKey:
				// A blocking query that timed out, or a change of a field the
				// appended lines do not show (countdowns, analysis schedule).
			case w.format == "table":
				line := rolloutLine(current, w.now())
				if n := len(current.Analysis); n > 0 && current.Analysis[n-1].Time.After(analyzed) {
					a := current.Analysis[n-1]
					line += fmt.Sprintf("  [analysis %s: %s]", a.Verdict, a.Message)
				}
				fmt.Fprintln(w.out, line)
			case w.format == "json":
				b, err := json.Marshal(rolloutForOutput(current))
				if err != nil {
					return err
				}
				fmt.Fprintln(w.out, string(b))
			default:
				fmt.Fprintln(w.out, "---")
				if err := printObject(w.out, w.format, rolloutForOutput(current)); err != nil {
					return err
				}
			}
			lastKey = key
			if n := len(current.Analysis); n > 0 {
				analyzed = current.Analysis[n-1].Time
			}
			switch current.Phase {
			case api.PhaseCompleted:
				return nil
			case api.PhaseAborted, api.PhaseFailed:
				return silentExit(exitRolloutEnded)
			}
		}
	}
}

// follow sends every answer of the blocking query to updates until ctx
// ends or a query fails.
func (w *rolloutWatch) follow(ctx context.Context, updates chan<- rolloutUpdate) {
	var index uint64
	for {
		r, i, err := w.c.Rollout(ctx, w.namespace, w.name, api.QueryOptions{Index: index, Wait: rolloutWait})
		select {
		case updates <- rolloutUpdate{r: r, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
		// An index that went back (a restored cluster) starts over.
		if i < index {
			i = 0
		}
		index = i
	}
}

// traffic is the service's figures, nil when the cluster has none (a
// follower without figures, an older server): the view then leaves them
// out. It is asked for no longer than a refresh period, so that the view
// keeps moving.
func (w *rolloutWatch) traffic(ctx context.Context) *api.ServiceTraffic {
	ctx, cancel := context.WithTimeout(ctx, rolloutRefresh)
	defer cancel()
	t, err := w.c.Traffic(ctx, w.namespace, w.name)
	if err != nil {
		return nil
	}
	return t
}

// changeKey is what the appended lines show: a new line when it changes.
func changeKey(r *api.Rollout) string {
	last := ""
	if n := len(r.Analysis); n > 0 {
		last = r.Analysis[n-1].Time.String()
	}
	if r.Shadow != nil {
		last += "|" + r.Shadow.Time.String() // the figures a shadow rollout took
	}
	if r.AB != nil && r.AB.Last != nil {
		last += "|" + r.AB.Last.Time.String() // an A/B analysis
	}
	return fmt.Sprintf("%s|%d|%d|%d|%d|%s|%s|%t|%s", r.Phase, r.Revision, r.StableRevision, r.Step, r.Steps, weightsText(r.Weights), r.Reason, r.Paused, last)
}

// rolloutLine is one appended line of a piped live view.
func rolloutLine(r *api.Rollout, now time.Time) string {
	parts := []string{now.Local().Format("15:04:05"), fmt.Sprintf("%-11s", r.Phase)}
	if s := stepText(r); s != "" {
		parts = append(parts, s)
	}
	parts = append(parts, "weights "+weightsText(r.Weights), r.Reason)
	return strings.Join(parts, "  ")
}

// isTerminal reports whether w is a terminal, and its width.
func isTerminal(w io.Writer) (bool, int) {
	f, ok := w.(*os.File)
	if !ok {
		return false, 0
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return false, 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return true, 0
	}
	return true, int(ws.Col)
}

// clip cuts a line to the terminal's width, so that no line wraps and the
// redraw moves up over exactly the lines it drew.
func clip(line string, width int) string {
	if width <= 1 || utf8.RuneCountInString(line) < width {
		return line
	}
	r := []rune(line)
	return string(r[:width-2]) + "…"
}

// renderRollout writes the block `rollout status` shows: where the rollout
// stands, the traffic split with each revision's figures, the countdowns
// and the latest analysis runs.
func renderRollout(w io.Writer, r *api.Rollout, next string, traffic *api.ServiceTraffic, now time.Time) {
	fmt.Fprintf(w, "Service:     %s/%s\n", r.Namespace, r.Service)
	fmt.Fprintf(w, "Strategy:    %s\n", strategyText(r, next))
	phase := r.Phase
	if s := stepText(r); s != "" {
		phase += ", " + s
	}
	if r.Paused {
		phase += " (paused by hand)"
	}
	fmt.Fprintf(w, "Phase:       %s\n", phase)
	fmt.Fprintf(w, "Revision:    %s\n", revisionText(r))
	if !r.StartTime.IsZero() {
		since := fmt.Sprintf("%s ago", ago(r.StartTime, now))
		if !r.EndTime.IsZero() && !r.Active() {
			since += fmt.Sprintf(", ended %s ago after %s", ago(r.EndTime, now), r.EndTime.Sub(r.StartTime).Round(time.Second))
		}
		fmt.Fprintf(w, "Started:     %s (%s)\n", r.StartTime.Local().Format("15:04:05"), since)
	}
	fmt.Fprintf(w, "Reason:      %s\n", r.Reason)
	if r.Active() {
		if !r.PauseUntil.IsZero() {
			fmt.Fprintf(w, "Pause:       %s left (until %s)\n", left(r.PauseUntil, now), r.PauseUntil.Local().Format("15:04:05"))
		}
		if !r.NextAnalysis.IsZero() {
			fmt.Fprintf(w, "Analysis:    next in %s\n", left(r.NextAnalysis, now))
		}
		if !r.ScaleDownAt.IsZero() {
			fmt.Fprintf(w, "Scale-down:  revision %d stops in %s\n", r.StableRevision, left(r.ScaleDownAt, now))
		}
	}
	if name := previewName(r); name != "" {
		fmt.Fprintf(w, "Preview:     %s (%s) reaches revision %d\n", name, r.PreviewVIP, r.Revision)
	}

	var figures map[int]api.TrafficFigures
	window := ""
	if traffic != nil && len(traffic.Windows) > 0 {
		figures = map[int]api.TrafficFigures{}
		for _, f := range traffic.Windows[0].Revisions {
			figures[f.Revision] = f
		}
		window = " (last " + traffic.Windows[0].Window.String() + ")"
	}
	revs := map[int]bool{}
	for rev := range r.Weights {
		revs[rev] = true
	}
	for rev, f := range figures {
		if f.Requests > 0 || f.InFlight > 0 {
			revs[rev] = true
		}
	}
	if len(revs) > 0 {
		fmt.Fprintf(w, "\nTraffic%s:\n", window)
		headers := []string{"  REVISION", "WEIGHT"}
		if figures != nil {
			headers = append(headers, "RPS", "ERRORS", "P50", "P99")
		}
		t := newTable(w, headers...)
		for _, rev := range sortedRevisions(revs) {
			label := fmt.Sprintf("  %d", rev)
			if r.Phase != api.PhaseCompleted && r.Revision != r.StableRevision {
				switch rev {
				case r.StableRevision:
					label += " (stable)"
				case r.Revision:
					label += " (new)"
				}
			}
			weight := fmt.Sprintf("%s %3d%%", bar(r.Weights[rev], 20), r.Weights[rev])
			if figures == nil {
				t.row(label, weight)
				continue
			}
			f := figures[rev]
			if f.Requests == 0 {
				t.row(label, weight, fmt.Sprintf("%.1f", f.RPS), "", "", "")
				continue
			}
			t.row(label, weight, fmt.Sprintf("%.1f", f.RPS), percent(f.ErrorRate), millis(f.P50Ms), millis(f.P99Ms))
		}
		t.flush()
	}

	renderShadow(w, r, now)
	renderAB(w, r, "", now)

	if len(r.Analysis) > 0 {
		runs := r.Analysis
		if len(runs) > 5 {
			runs = runs[len(runs)-5:]
		}
		head := "Analysis"
		if r.Failures > 0 {
			head += fmt.Sprintf(" (%d failed)", r.Failures)
		}
		fmt.Fprintf(w, "\n%s:\n", head)
		t := newTable(w, "  TIME", "STEP", "VERDICT", "NEW", "STABLE", "DETAIL")
		for _, a := range runs {
			t.row("  "+a.Time.Local().Format("15:04:05"), a.Step, a.Verdict, analysisFigures(a.Canary), analysisFigures(a.Stable), a.Message)
		}
		t.flush()
	}
}

// revisionText is "2 over stable 1" while a rollout runs or after it was
// turned back, "2" once it completed.
func revisionText(r *api.Rollout) string {
	if r.Phase == api.PhaseCompleted || r.Revision == r.StableRevision {
		return fmt.Sprint(r.Revision)
	}
	return fmt.Sprintf("%d over stable %d", r.Revision, r.StableRevision)
}

// previewName is the extra name a running blue-green or canary rollout
// gives its new revision, "" when it has none (the name goes once the
// rollout ends).
func previewName(r *api.Rollout) string {
	if r.PreviewVIP == "" || !r.Active() {
		return ""
	}
	switch r.Strategy {
	case api.RolloutBlueGreen:
		return r.Service + rolloutctl.PreviewSuffix
	case api.RolloutCanary:
		return r.Service + rolloutctl.CanarySuffix
	}
	return ""
}

// stepText is "step k/n", "" for strategies without steps.
func stepText(r *api.Rollout) string {
	if r.Steps == 0 {
		return ""
	}
	return fmt.Sprintf("step %d/%d", r.Step, r.Steps)
}

// weightsText is "1:90% 2:10%", by revision.
func weightsText(weights map[int]int) string {
	if len(weights) == 0 {
		return "-"
	}
	revs := map[int]bool{}
	for rev := range weights {
		revs[rev] = true
	}
	var parts []string
	for _, rev := range sortedRevisions(revs) {
		parts = append(parts, fmt.Sprintf("%d:%d%%", rev, weights[rev]))
	}
	return strings.Join(parts, " ")
}

func sortedRevisions(revs map[int]bool) []int {
	out := make([]int, 0, len(revs))
	for rev := range revs {
		out = append(out, rev)
	}
	sort.Ints(out)
	return out
}

// analysisFigures is one revision's side of an analysis run.
func analysisFigures(f api.AnalysisFigures) string {
	if f.Revision == 0 && f.Requests == 0 {
		return "-"
	}
	return fmt.Sprintf("rev %d: %d req, %s err, p99 %s", f.Revision, f.Requests, percent(f.ErrorRate), millis(f.P99Ms))
}

// bar draws a percentage as a bar of width cells.
func bar(pct, width int) string {
	pct = min(max(pct, 0), 100)
	full := (pct*width + 50) / 100
	return strings.Repeat("█", full) + strings.Repeat("░", width-full)
}

func percent(rate float64) string { return fmt.Sprintf("%.2f%%", rate*100) }

func millis(ms float64) string {
	if ms < 10 {
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}

// left is the time until t, to the second; 0s once it has passed.
func left(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	if d <= 0 {
		return "0s"
	}
	return d.String()
}

// ago is the time since t, to the second.
func ago(t, now time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String()
}

// strategyText is the rollout's strategy and, once it has ended, the one
// the service's next rollout will use (next, the service's) when the
// service's rollout settings changed since.
func strategyText(r *api.Rollout, next string) string {
	if next == "" || next == r.Strategy || r.Active() {
		return r.Strategy
	}
	return r.Strategy + " (the next rollout: " + next + ")"
}
