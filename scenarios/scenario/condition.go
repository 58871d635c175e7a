package scenario

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"flotilla/api"
	"flotilla/internal/text"
	rolloutctl "flotilla/scheduler/rollout"
)

// Condition is what a wait waits for and an expect checks: every part
// that is set must hold.
type Condition struct {
	Allocations *AllocationsCondition `json:"allocations,omitempty"`
	Service     *ServiceCondition     `json:"service,omitempty"`
	Rollout     *RolloutCondition     `json:"rollout,omitempty"`
	Event       *EventCondition       `json:"event,omitempty"`
	DNS         *DNSCondition         `json:"dns,omitempty"`
	Node        *NodeCondition        `json:"node,omitempty"`
	Leader      *LeaderCondition      `json:"leader,omitempty"`
	Load        *LoadCondition        `json:"load,omitempty"`
}

// AllocationsCondition is about a service's allocations. Running counts
// those meant to run and running (of Revision, when set); Ready the ready
// ones among them; PerNode the running ones on each node named (nodes not
// named may have any); Nodes the nodes with any running; Restarts the
// restarts of those meant to run, summed; Failed the failed ones.
type AllocationsCondition struct {
	Service   string           `json:"service"`
	Namespace string           `json:"namespace,omitempty"`
	Revision  int              `json:"revision,omitempty"`
	Running   *Count           `json:"running,omitempty"`
	Ready     *Count           `json:"ready,omitempty"`
	PerNode   map[string]Count `json:"perNode,omitempty"`
	Nodes     *Count           `json:"nodes,omitempty"`
	Restarts  *Count           `json:"restarts,omitempty"`
	Failed    *Count           `json:"failed,omitempty"`
}

// ServiceCondition is about a service as the API reads it: its desired
// replicas, running and ready ones (of the revisions that serve), its
// revision, health, what could not be placed and why (substrings), and
// the autoscaler's last change (a substring of its reason).
type ServiceCondition struct {
	Name             string `json:"name"`
	Namespace        string `json:"namespace,omitempty"`
	Replicas         *Count `json:"replicas,omitempty"`
	Running          *Count `json:"running,omitempty"`
	Ready            *Count `json:"ready,omitempty"`
	Revision         *Count `json:"revision,omitempty"`
	Health           string `json:"health,omitempty"`
	Unplaced         *Count `json:"unplaced,omitempty"`
	PlacementFailure string `json:"placementFailure,omitempty"`
	Autoscaled       string `json:"autoscaled,omitempty"`
}

// RolloutCondition is about a service's newest rollout: its phase, the
// revision it rolls out, its step, a substring of its reason, the traffic
// weight of revisions ("1": 100), and an A/B experiment's final verdict
// ("B wins", "A wins" or "no winner").
type RolloutCondition struct {
	Service   string           `json:"service"`
	Namespace string           `json:"namespace,omitempty"`
	Phase     string           `json:"phase,omitempty"`
	Revision  int              `json:"revision,omitempty"`
	Step      *Count           `json:"step,omitempty"`
	Reason    string           `json:"reason,omitempty"`
	Weights   map[string]Count `json:"weights,omitempty"`
	Verdict   string           `json:"verdict,omitempty"`
}

// abVerdicts are the final verdicts of an A/B experiment.
var abVerdicts = []string{string(rolloutctl.ABWinnerB), string(rolloutctl.ABWinnerA), string(rolloutctl.ABNoWinner)}

// EventCondition is about the cluster's events since the scenario began:
// Count (at least one by default) of the type, with the message containing
// Message, of the service and node, when given.
type EventCondition struct {
	Type      string `json:"type,omitempty"`
	Message   string `json:"message,omitempty"`
	Service   string `json:"service,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Node      string `json:"node,omitempty"`
	Count     *Count `json:"count,omitempty"`
}

// DNSCondition asks the cluster's DNS server a question: the answers of
// Type (A by default, or SRV) for Name, their number, whether the A
// answers hold the VIP of service VIP, and the answer's code (NOERROR,
// NXDOMAIN).
type DNSCondition struct {
	Name    string `json:"name"`
	Type    string `json:"type,omitempty"`
	Answers *Count `json:"answers,omitempty"`
	VIP     string `json:"vip,omitempty"`
	Rcode   string `json:"rcode,omitempty"`
}

// NodeCondition is about a node: its status (ready, down, draining) and
// whether it takes new allocations.
type NodeCondition struct {
	Name     string `json:"name"`
	Status   string `json:"status,omitempty"`
	Eligible *bool  `json:"eligible,omitempty"`
}

// LeaderCondition: a leader is known; with New, one other than the server
// a fault took out while it led.
type LeaderCondition struct {
	New bool `json:"new,omitempty"`
}

// LoadCondition is about a background load's figures: while it runs,
// requests and errors so far; once stopped, all of them. Name is implied
// in a load step's stop.
type LoadCondition struct {
	Name         string           `json:"name,omitempty"`
	Requests     *Count           `json:"requests,omitempty"`
	Errors       *Count           `json:"errors,omitempty"`
	MaxErrorRate *Percentage      `json:"maxErrorRate,omitempty"`
	MaxP99       *api.Duration    `json:"maxP99,omitempty"`
	Versions     map[string]Count `json:"versions,omitempty"`
}

// Percentage is a share written as a percentage, from 0% to 100%: "1%",
// "0.5%". A bare number is refused: a fault's errorRate reads 0.3 as 30%
// (as the demo app does), so 0.5 here, once read as 0.5%, would say the
// opposite of what it seems to.
type Percentage struct{ api.Percent }

func (p *Percentage) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil || !strings.HasSuffix(strings.TrimSpace(s), "%") {
		return fmt.Errorf("want a percentage such as 1%% or 0.5%%, got %s (a bare number is refused: a fault's errorRate reads 0.5 as 50%%)", strings.Trim(string(b), `"`))
	}
	v, err := api.ParsePercent(s)
	if err != nil {
		return err
	}
	if v < 0 || v > 100 {
		return fmt.Errorf("want 0%% to 100%%, got %s", v)
	}
	p.Percent = v
	return nil
}

// verdict is one check of one condition: whether it holds, what it wants
// and what was seen, in words, and the figures behind them. detail is
// more of what was seen, in lines the report shows under a check that
// held (an A/B experiment's table, a shadow's comparisons); errors leave
// it out.
type verdict struct {
	ok      bool
	want    string
	seen    string
	detail  string
	figures map[string]any
}

// text is what the report shows of a check: what was seen, and under it
// the detail.
func (v verdict) text() string {
	if v.detail == "" {
		return v.seen
	}
	return v.seen + "\n" + v.detail
}

// parts lists the set parts of a condition.
func (c *Condition) parts() []conditionPart {
	var out []conditionPart
	if c.Allocations != nil {
		out = append(out, c.Allocations)
	}
	if c.Service != nil {
		out = append(out, c.Service)
	}
	if c.Rollout != nil {
		out = append(out, c.Rollout)
	}
	if c.Event != nil {
		out = append(out, c.Event)
	}
	if c.DNS != nil {
		out = append(out, c.DNS)
	}
	if c.Node != nil {
		out = append(out, c.Node)
	}
	if c.Leader != nil {
		out = append(out, c.Leader)
	}
	if c.Load != nil {
		out = append(out, c.Load)
	}
	return out
}

// conditionPart is one part of a condition.
type conditionPart interface {
	check(ctx context.Context, w *world) (verdict, error)
}

// check checks every part; the verdict is the first that fails, or all
// of them joined.
func (c *Condition) check(ctx context.Context, w *world) (verdict, error) {
	all := verdict{ok: true, figures: map[string]any{}}
	var wants, seens, details []string
	for _, p := range c.parts() {
		v, err := p.check(ctx, w)
		if err != nil {
			return verdict{}, err
		}
		if !v.ok {
			return v, nil
		}
		wants, seens = append(wants, v.want), append(seens, v.seen)
		if v.detail != "" {
			details = append(details, v.detail)
		}
		for k, f := range v.figures {
			all.figures[k] = f
		}
	}
	all.want, all.seen, all.detail = strings.Join(wants, "; "), strings.Join(seens, "; "), strings.Join(details, "\n")
	return all, nil
}

// tally gathers a condition's labelled checks: what each wants, and
// whether they all hold.
type tally struct {
	ok          bool
	wants, seen []string
}

func newTally() *tally { return &tally{ok: true} }

// count checks n against c, when c is set.
func (t *tally) count(label string, c *Count, n int) {
	if c == nil {
		return
	}
	t.wants = append(t.wants, label+" "+c.String())
	if !c.Match(n) {
		t.ok = false
	}
}

// is checks a string equals want, when want is set.
func (t *tally) is(label, want, got string) {
	if want == "" {
		return
	}
	t.wants = append(t.wants, label+" "+want)
	if got != want {
		t.ok = false
	}
}

// contains checks a string holds want, when want is set.
func (t *tally) contains(label, want, got string) {
	if want == "" {
		return
	}
	t.wants = append(t.wants, fmt.Sprintf("%s containing %q", label, want))
	if !strings.Contains(got, want) {
		t.ok = false
	}
}

func (t *tally) verdict(subject string, seen string, figures map[string]any) verdict {
	return verdict{ok: t.ok, want: subject + ": " + strings.Join(t.wants, ", "), seen: subject + ": " + seen, figures: figures}
}

func namespaceOr(ns string) string {
	if ns == "" {
		return api.DefaultNamespace
	}
	return ns
}

func (c *AllocationsCondition) check(ctx context.Context, w *world) (verdict, error) {
	ns := namespaceOr(c.Namespace)
	allocs, _, err := w.cluster.Allocations(ctx, api.AllocFilter{Namespace: ns, Service: c.Service}, api.QueryOptions{})
	if err != nil {
		return verdict{}, fmt.Errorf("read allocations of %s: %w", c.Service, err)
	}
	running, ready, restarts, failed := 0, 0, 0, 0
	perNode := map[string]int{}
	for _, a := range allocs {
		if c.Revision != 0 && a.Revision != c.Revision {
			continue
		}
		if a.Status == api.AllocFailed {
			failed++
		}
		if a.DesiredStatus != api.DesiredRun {
			continue
		}
		restarts += a.Restarts
		if a.Status == api.AllocRunning {
			running++
			perNode[a.Node]++
			if a.Ready {
				ready++
			}
		}
	}
	t := newTally()
	t.count("running", c.Running, running)
	t.count("ready", c.Ready, ready)
	for _, node := range sortedKeys(c.PerNode) {
		want := c.PerNode[node]
		t.count("running on "+node, &want, perNode[node])
	}
	t.count("on nodes", c.Nodes, len(perNode))
	t.count("restarts", c.Restarts, restarts)
	t.count("failed", c.Failed, failed)
	seen := fmt.Sprintf("%d running (%s), %d ready", running, nodeCounts(perNode), ready)
	if c.Restarts != nil {
		seen += ", " + text.Count(restarts, "restart")
	}
	if c.Failed != nil {
		seen += fmt.Sprintf(", %d failed", failed)
	}
	subject := "allocations of " + c.Service
	if c.Revision != 0 {
		subject += fmt.Sprintf(" revision %d", c.Revision)
	}
	return t.verdict(subject, seen, map[string]any{
		"running": running, "ready": ready, "perNode": perNode, "restarts": restarts, "failed": failed,
	}), nil
}

// nodeCounts writes "n1 2, n3 4" ("none" for nothing).
func nodeCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (c *ServiceCondition) check(ctx context.Context, w *world) (verdict, error) {
	subject := "service " + c.Name
	t := newTally()
	svc, _, err := w.cluster.Service(ctx, namespaceOr(c.Namespace), c.Name, api.QueryOptions{})
	if errors.Is(err, api.ErrNotFound) {
		t.ok = false
		t.wants = append(t.wants, "to exist")
		return t.verdict(subject, "no such service", nil), nil
	}
	if err != nil {
		return verdict{}, fmt.Errorf("read service %s: %w", c.Name, err)
	}
	t.count("replicas", c.Replicas, svc.Replicas)
	t.count("running", c.Running, svc.RunningReplicas)
	t.count("ready", c.Ready, svc.ReadyReplicas)
	t.count("revision", c.Revision, svc.Revision)
	t.is("health", c.Health, svc.Health)
	t.count("unplaced", c.Unplaced, svc.Unplaced)
	t.contains("placement failure", c.PlacementFailure, svc.PlacementFailure)
	last := ""
	if svc.Autoscaled != nil {
		last = fmt.Sprintf("%d → %d: %s", svc.Autoscaled.From, svc.Autoscaled.To, svc.Autoscaled.Reason)
	}
	t.contains("last autoscaling", c.Autoscaled, last)
	seen := fmt.Sprintf("replicas %d, %d running, %d ready, revision %d, %s", svc.Replicas, svc.RunningReplicas, svc.ReadyReplicas, svc.Revision, svc.Health)
	if svc.Unplaced > 0 {
		seen += fmt.Sprintf("; %d unplaced: %s", svc.Unplaced, svc.PlacementFailure)
	}
	if c.Autoscaled != "" && last != "" {
		seen += "; last autoscaling " + last
	}
	return t.verdict(subject, seen, map[string]any{
		"replicas": svc.Replicas, "running": svc.RunningReplicas, "ready": svc.ReadyReplicas, "revision": svc.Revision,
		"health": svc.Health, "unplaced": svc.Unplaced,
	}), nil
}

func (c *RolloutCondition) check(ctx context.Context, w *world) (verdict, error) {
	subject := "rollout of " + c.Service
	t := newTally()
	ro, _, err := w.cluster.Rollout(ctx, namespaceOr(c.Namespace), c.Service, api.QueryOptions{})
	if errors.Is(err, api.ErrNotFound) {
		t.ok = false
		t.wants = append(t.wants, "to exist")
		return t.verdict(subject, "none yet", nil), nil
	}
	if err != nil {
		return verdict{}, fmt.Errorf("read the rollout of %s: %w", c.Service, err)
	}
	t.is("phase", c.Phase, ro.Phase)
	if c.Revision != 0 {
		t.wants = append(t.wants, fmt.Sprintf("revision %d", c.Revision))
		if ro.Revision != c.Revision {
			t.ok = false
		}
	}
	t.count("step", c.Step, ro.Step)
	t.contains("reason", c.Reason, ro.Reason)
	for _, rev := range sortedKeys(c.Weights) {
		want := c.Weights[rev]
		n, _ := strconv.Atoi(rev) // validated
		t.count("weight of revision "+rev, &want, ro.Weights[n])
	}
	abVerdict := ""
	if ro.AB != nil {
		abVerdict = ro.AB.Verdict
	}
	t.is("A/B verdict", c.Verdict, abVerdict)
	seen := fmt.Sprintf("%s, revision %d over %d, step %d/%d, weights %s", ro.Phase, ro.Revision, ro.StableRevision, ro.Step, ro.Steps, weights(ro.Weights))
	if c.Verdict != "" {
		seen += ", A/B verdict " + cmp.Or(abVerdict, "none yet")
	}
	if ro.Reason != "" && (!t.ok || c.Reason != "") {
		// A passing check's reason was narrated with its event already,
		// unless the check is about it.
		seen += ": " + ro.Reason
	}
	v := t.verdict(subject, seen, map[string]any{
		"phase": ro.Phase, "revision": ro.Revision, "stableRevision": ro.StableRevision, "step": ro.Step, "steps": ro.Steps, "weights": ro.Weights,
	})
	// The figures behind a verdict: an A/B experiment's when the check is
	// about its verdict, a shadow's whenever it has taken some.
	if ro.AB != nil && ro.AB.Last != nil && c.Verdict != "" {
		v.detail = abTable(ro.AB)
		v.figures["ab"] = ro.AB.Last
	}
	if ro.Strategy == api.RolloutShadow && ro.Shadow != nil {
		v.detail = shadowLines(ro.Shadow)
		v.figures["shadow"] = ro.Shadow
	}
	return v, nil
}

// abTable is an A/B experiment's last analysis, as `rollout status` shows
// it, in lines:
//
//	A/B experiment (goal: response header X-Conversion), 3 of 3 looks done:
//	  A, revision 1: 1650 visitors, 412 converted, 25.0% [22.9, 27.1]
//	  B, revision 2: 1622 visitors, 560 converted, 34.5% [32.2, 36.9]
//	  lift +38% [+24, +53], p=1.2e-09 (level 0.0401 at look 3): B wins
func abTable(ab *api.ABState) string {
	a := ab.Last
	var b strings.Builder
	fmt.Fprintf(&b, "A/B experiment (goal: %s), %d of 3 looks done:", ab.Goal, ab.LooksDone)
	for _, v := range []struct {
		name string
		f    api.ABVariantFigures
	}{{"A", a.A}, {"B", a.B}} {
		fmt.Fprintf(&b, "\n  %s, revision %d: %d visitors, %d converted, %.1f%% [%.1f, %.1f]",
			v.name, v.f.Revision, v.f.Visitors, v.f.Conversions, 100*v.f.Rate.Value, 100*v.f.Rate.Low, 100*v.f.Rate.High)
	}
	lift := "lift - (a variant has no conversion)"
	if a.Lift != nil {
		lift = fmt.Sprintf("lift %+.0f%% [%+.0f, %+.0f]", 100*a.Lift.Value, 100*a.Lift.Low, 100*a.Lift.High)
	}
	level := ""
	if a.Look > 0 {
		level = fmt.Sprintf(" (level %.3g at look %d)", a.Alpha, a.Look)
	}
	fmt.Fprintf(&b, "\n  %s, p=%.2g%s: %s", lift, a.PValue, level, a.Verdict)
	return b.String()
}

// shadowLines are a shadow rollout's comparison figures in lines:
//
//	shadow: 1532 mirrored, 1498 compared, 740 noise comparisons, 700 judged, 0 differing: diff rate 0.0%
//	  noise: body.allocation, body.hostname, body.node, body.time
//	  counted against the new revision: GET / status (71, 10.1%)
func shadowLines(s *api.ShadowStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "shadow: %d mirrored, %d compared, %d noise comparisons, %d judged, %d differing: diff rate %.1f%%",
		s.Mirrored, s.Comparisons, s.NoiseComparisons, s.Judged, s.Differing, 100*s.DiffRate)
	if s.Learning {
		b.WriteString(" (noise still being learned)")
	}
	if len(s.NoiseFields) > 0 {
		b.WriteString("\n  noise: " + strings.Join(s.NoiseFields, ", "))
	}
	if len(s.DiffFields) > 0 {
		var fields []string
		for _, f := range s.DiffFields {
			fields = append(fields, fmt.Sprintf("%s (%d, %.1f%%)", f.Field, f.Counted, 100*f.DiffRate))
		}
		b.WriteString("\n  counted against the new revision: " + strings.Join(fields, ", "))
	}
	return b.String()
}

// weights writes "1: 90%, 2: 10%".
func weights(m map[int]int) string {
	if len(m) == 0 {
		return "-"
	}
	revs := make([]int, 0, len(m))
	for r := range m {
		revs = append(revs, r)
	}
	slices.Sort(revs)
	parts := make([]string, len(revs))
	for i, r := range revs {
		parts[i] = fmt.Sprintf("%d: %d%%", r, m[r])
	}
	return strings.Join(parts, ", ")
}

func (c *EventCondition) matches(e *api.Event) bool {
	return (c.Type == "" || e.Type == c.Type) && strings.Contains(e.Message, c.Message) &&
		(c.Service == "" || (e.Service == c.Service && e.Namespace == namespaceOr(c.Namespace))) &&
		(c.Node == "" || e.Node == c.Node)
}

// check reads the events from the cluster (a consistent read: an event
// of a change another condition just saw is there too).
func (c *EventCondition) check(ctx context.Context, w *world) (verdict, error) {
	want := AtLeast(1)
	if c.Count != nil {
		want = *c.Count
	}
	f := api.EventFilter{Node: c.Node}
	if c.Service != "" {
		f.Namespace, f.Service = namespaceOr(c.Namespace), c.Service
	}
	events, _, err := w.cluster.Events(ctx, f, api.QueryOptions{})
	if err != nil {
		return verdict{}, fmt.Errorf("read events: %w", err)
	}
	var matched []*api.Event
	for _, e := range events {
		if e.ID > w.since && c.matches(e) {
			matched = append(matched, e)
		}
	}
	var what []string
	if c.Type != "" {
		what = append(what, c.Type)
	} else {
		what = append(what, "any type")
	}
	if c.Message != "" {
		what = append(what, fmt.Sprintf("saying %q", c.Message))
	}
	if c.Service != "" {
		what = append(what, "of service "+c.Service)
	}
	if c.Node != "" {
		what = append(what, "of node "+c.Node)
	}
	v := verdict{ok: want.Match(len(matched)), want: fmt.Sprintf("events (%s): %s", strings.Join(what, " "), want),
		figures: map[string]any{"events": len(matched)}}
	v.seen = fmt.Sprintf("events (%s): %d", strings.Join(what, " "), len(matched))
	if n := len(matched); n > 0 && !v.ok {
		// A passing check's events were narrated already.
		v.seen += fmt.Sprintf(", the last: %s", matched[n-1].Message)
	}
	return v, nil
}

func (c *NodeCondition) check(ctx context.Context, w *world) (verdict, error) {
	nodes, _, err := w.cluster.Nodes(ctx, api.QueryOptions{})
	if err != nil {
		return verdict{}, fmt.Errorf("read nodes: %w", err)
	}
	subject := "node " + c.Name
	t := newTally()
	var node *api.Node
	for _, n := range nodes {
		if n.Name == c.Name {
			node = n
		}
	}
	if node == nil {
		t.ok = false
		t.wants = append(t.wants, "to exist")
		return t.verdict(subject, "not registered", nil), nil
	}
	t.is("status", c.Status, node.Status)
	if c.Eligible != nil {
		t.wants = append(t.wants, fmt.Sprintf("eligible %t", *c.Eligible))
		if node.Eligible != *c.Eligible {
			t.ok = false
		}
	}
	seen := fmt.Sprintf("%s, eligible %t, %d allocations", node.Status, node.Eligible, node.Allocations)
	return t.verdict(subject, seen, map[string]any{"status": node.Status, "eligible": node.Eligible, "allocations": node.Allocations}), nil
}

func (c *LeaderCondition) check(ctx context.Context, w *world) (verdict, error) {
	want := "a leader"
	if c.New {
		want = "a new leader"
		if w.lostLeader != "" {
			want += ", not " + w.lostLeader
		}
	}
	l, err := w.cluster.Leader(ctx)
	if err != nil {
		return verdict{want: want, seen: "no answer: " + err.Error()}, nil
	}
	v := verdict{want: want, seen: "leader " + l.Leader, figures: map[string]any{"leader": l.Leader}}
	if l.Leader == "" {
		v.seen = "no leader"
	}
	v.ok = l.Leader != "" && !(c.New && l.Leader == w.lostLeader)
	return v, nil
}

func (c *LoadCondition) check(_ context.Context, w *world) (verdict, error) {
	ld := w.loads[c.Name]
	if ld == nil {
		return verdict{}, fmt.Errorf("no load %q has started", c.Name)
	}
	return c.judge(ld.figures()), nil
}

// judge checks a load's figures.
func (c *LoadCondition) judge(f loadFigures) verdict {
	t := newTally()
	t.count("requests", c.Requests, int(f.Requests))
	t.count("errors", c.Errors, int(f.Errors))
	if c.MaxErrorRate != nil {
		t.wants = append(t.wants, "error rate at most "+c.MaxErrorRate.String())
		if f.Requests > 0 && float64(f.Errors)/float64(f.Requests) > c.MaxErrorRate.Fraction() {
			t.ok = false
		}
	}
	if c.MaxP99 != nil {
		t.wants = append(t.wants, "p99 at most "+c.MaxP99.String())
		if f.P99Ms > float64(c.MaxP99.Std().Milliseconds()) {
			t.ok = false
		}
	}
	for _, v := range sortedKeys(c.Versions) {
		want := c.Versions[v]
		t.count("answers from "+v, &want, int(f.Versions[v]))
	}
	if len(c.Versions) > 0 && !f.Done {
		// Versions are counted at the end only.
		t.ok = false
	}
	return t.verdict("load "+f.Name, f.String(), f.figures())
}
