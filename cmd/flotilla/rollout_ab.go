package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"flotilla/api"
)

// renderAB writes an A/B rollout's experiment, as `rollout status` and
// `describe` show it: per variant the visitors, conversions and rate with
// its confidence interval, then the lift, the p-value, the minimum sample
// and the looks, and the verdict. indent starts every line.
func renderAB(w io.Writer, r *api.Rollout, indent string, now time.Time) {
	ab := r.AB
	if ab == nil {
		return
	}
	head := "A/B experiment"
	var notes []string
	if ab.Goal != "" {
		notes = append(notes, "goal: "+ab.Goal)
	}
	if ab.AutoPromote {
		notes = append(notes, "autoPromote")
	}
	if len(notes) > 0 {
		head += " (" + strings.Join(notes, ", ") + ")"
	}
	a := ab.Last
	if a == nil {
		fmt.Fprintf(w, "\n%s%s: no analysis yet\n", indent, head)
		return
	}
	fmt.Fprintf(w, "\n%s%s, analysed at %s (%s ago):\n", indent, head, a.Time.Local().Format("15:04:05"), ago(a.Time, now))
	t := newTable(w, indent+"  VARIANT", "VISITORS", "CONVERTED", "RATE")
	for _, v := range []struct {
		name string
		f    api.ABVariantFigures
	}{{"A", a.A}, {"B", a.B}} {
		t.row(fmt.Sprintf("%s  %s: revision %d", indent, v.name, v.f.Revision), v.f.Visitors, v.f.Conversions, abRate(v.f.Rate))
	}
	t.flush()
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%s  %-12s %s\n", indent, label+":", fmt.Sprintf(format, args...))
	}
	lift := "- (a variant has no conversion yet)"
	if a.Lift != nil {
		lift = fmt.Sprintf("%+.1f%% [%+.1f%%, %+.1f%%]", 100*a.Lift.Value, 100*a.Lift.Low, 100*a.Lift.High)
	}
	line("Lift", "%s; difference %+.2f points [%+.2f, %+.2f]", lift, 100*a.Difference.Value, 100*a.Difference.Low, 100*a.Difference.High)
	p := fmt.Sprintf("%.4g", a.PValue)
	if a.Look > 0 {
		p += fmt.Sprintf(" (tested at look %d, level %.3g)", a.Look, a.Alpha)
	}
	line("p-value", "%s", p)
	sample := "not sized yet (no conversion)"
	if a.MinSample > 0 {
		sample = fmt.Sprintf("%d visitors per variant", a.MinSample)
	}
	line("Min sample", "%s", sample)
	looks := fmt.Sprintf("%d of 3 done", ab.LooksDone)
	if a.NextLook > 0 && ab.Verdict == "" {
		looks += fmt.Sprintf("; the next at %d visitors per variant", a.NextLook)
	}
	line("Looks", "%s", looks)
	verdict := a.Verdict
	if ab.Verdict == "" {
		verdict += ": " + a.Message
	}
	line("Verdict", "%s", verdict)
}

// abRate is a rate with its interval: "15.20% [13.71%, 16.83%]".
func abRate(e api.ABEstimate) string {
	return fmt.Sprintf("%.2f%% [%.2f%%, %.2f%%]", 100*e.Value, 100*e.Low, 100*e.High)
}
