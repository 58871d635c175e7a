package scenario

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"flotilla/api"
	"flotilla/network/loadgen"
	"flotilla/runtime/workload"
)

// Lab defaults and bounds (those of `flotilla lab up`).
const (
	DefaultServers = 3
	DefaultAgents  = 3
	RuntimeSim     = "sim"
	maxServers     = 9
	maxAgents      = 50
)

// RuntimeContainerd is a lab of real containers (it needs root): its
// nodes are network namespaces, with links a partition cuts.
const RuntimeContainerd = "containerd"

// Leader, Follower and Last are the node names a fault may use besides a
// lab process's own: the server that leads when the fault happens, one
// that does not, and the process the previous node fault hit. All is what
// heal may name besides: every node cut off.
const (
	NodeLeader   = "leader"
	NodeFollower = "follower"
	NodeLast     = "last"
	NodeAll      = "all"
)

func fieldError(field, format string, args ...any) *api.FieldError {
	return &api.FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// validate fills the lab's defaults and checks every step; the first
// error names its step and field.
func (sc *Scenario) validate(files fs.FS, dir string) error {
	switch {
	case strings.TrimSpace(sc.Title) == "":
		return fieldError("title", "required: one line saying what happens")
	case strings.TrimSpace(sc.Teaches) == "":
		return fieldError("teaches", "required: what the scenario teaches")
	case len(sc.Steps) == 0:
		return fieldError("steps", "required: at least one step")
	}
	if err := sc.Lab.validate(); err != nil {
		return err
	}
	v := &validation{sc: sc, files: files, dir: dir,
		modes: []*modeState{{name: OnlyLive, loads: map[string]int{}}, {name: OnlyVirtual, loads: map[string]int{}}}}
	sc.specs = map[int][]api.ServiceSpec{}
	for i := range sc.Steps {
		if err := v.step(i, &sc.Steps[i]); err != nil {
			return err
		}
	}
	return nil
}

func (l *LabSpec) validate() error {
	if l.Servers == 0 {
		l.Servers = DefaultServers
	}
	if l.Agents == 0 {
		l.Agents = DefaultAgents
	}
	if l.Runtime == "" {
		l.Runtime = RuntimeSim
	}
	switch {
	case l.Servers < 1 || l.Servers > maxServers:
		return fieldError("lab.servers", "want 1 to %d, got %d", maxServers, l.Servers)
	case l.Agents < 1 || l.Agents > maxAgents:
		return fieldError("lab.agents", "want 1 to %d, got %d", maxAgents, l.Agents)
	case l.Runtime != RuntimeSim && l.Runtime != RuntimeContainerd:
		return fieldError("lab.runtime", "%q: want sim or containerd", l.Runtime)
	}
	return nil
}

// processes are the lab's process names: s1.., n1...
func (l *LabSpec) processes() []string {
	var out []string
	for i := 1; i <= l.Servers; i++ {
		out = append(out, "s"+strconv.Itoa(i))
	}
	for i := 1; i <= l.Agents; i++ {
		out = append(out, "n"+strconv.Itoa(i))
	}
	return out
}

// agents are the lab's agent nodes: n1...
func (l *LabSpec) agents() []string {
	var out []string
	for i := 1; i <= l.Agents; i++ {
		out = append(out, "n"+strconv.Itoa(i))
	}
	return out
}

// validation is the state of checking steps in order, in each mode a
// run may play (a step marked only: live is left out of a virtual run,
// and the other way round): which loads run, whether a node fault (a
// partition) came before.
type validation struct {
	sc    *Scenario
	files fs.FS
	dir   string
	modes []*modeState
	// only is the step's Step.Only, while it is checked.
	only string
}

// modeState is what the steps so far did in one mode (live or virtual).
type modeState struct {
	name        string
	loads       map[string]int // name -> 1 running, 2 stopped
	nodeFault   bool
	partitioned bool
}

// playing lists the modes the step being checked plays in.
func (v *validation) playing() []*modeState {
	var out []*modeState
	for _, m := range v.modes {
		if v.only == "" || v.only == m.name {
			out = append(out, m)
		}
	}
	return out
}

// fails reports whether ok does not hold in a mode the step plays in, and
// where: "" when it holds in none of them, else " in a virtual run (...)"
// naming the mode it fails in, whose steps differ from the other's.
func (v *validation) fails(ok func(*modeState) bool) (bool, string) {
	var bad []*modeState
	modes := v.playing()
	for _, m := range modes {
		if !ok(m) {
			bad = append(bad, m)
		}
	}
	switch {
	case len(bad) == 0:
		return false, ""
	case len(bad) == len(modes):
		return true, ""
	}
	other := OnlyLive
	if bad[0].name == OnlyLive {
		other = OnlyVirtual
	}
	return true, fmt.Sprintf(" in a %s run (which leaves out the steps marked only: %s)", bad[0].name, other)
}

// each applies change to every mode the step plays in.
func (v *validation) each(change func(*modeState)) {
	for _, m := range v.playing() {
		change(m)
	}
}

func (v *validation) step(i int, s *Step) error {
	v.only = s.Only
	kinds := s.kinds()
	switch len(kinds) {
	case 0:
		return fieldError(stepField(i, ""), "empty step: want one of say, apply, delete, wait, expect, load, fault, rollout, scale, drain or sleep")
	case 1:
	default:
		return fieldError(stepField(i, ""), "one kind per step, got %s", strings.Join(kinds, " and "))
	}
	f := func(field string) string { return stepField(i, kinds[0]+field) }
	if s.Only != "" && s.Only != OnlyLive && s.Only != OnlyVirtual {
		return fieldError(stepField(i, "only"), "%q: want live or virtual (or leave it out for both)", s.Only)
	}
	switch kinds[0] {
	case KindSay:
		return nil
	case KindApply:
		return v.apply(i, s.Apply)
	case KindDelete:
		return name(f(".service"), s.Delete.Service, s.Delete.Namespace)
	case KindWait:
		return v.condition(f(""), &s.Wait.Condition)
	case KindExpect:
		return v.condition(f(""), s.Expect)
	case KindLoad:
		return v.load(f(""), s.Load)
	case KindFault:
		return v.fault(f(""), s.Fault)
	case KindRollout:
		return rollout(f(""), s.Rollout)
	case KindScale:
		if err := name(f(".service"), s.Scale.Service, s.Scale.Namespace); err != nil {
			return err
		}
		switch {
		case s.Scale.Replicas == nil:
			return fieldError(f(".replicas"), "required")
		case *s.Scale.Replicas < 0:
			return fieldError(f(".replicas"), "must not be negative")
		}
		return nil
	case KindDrain:
		return v.agent(f(".node"), s.Drain.Node)
	case KindSleep:
		if *s.Sleep <= 0 {
			return fieldError(f(""), "must be more than 0s")
		}
		return nil
	}
	return nil
}

// name checks a service name and the optional namespace beside it.
func name(field, name, namespace string) error {
	if err := api.ValidateName(field, name); err != nil {
		return err
	}
	if namespace != "" {
		return api.ValidateName(field[:strings.LastIndexByte(field, '.')+1]+"namespace", namespace)
	}
	return nil
}

func nodeName(field, n string) error {
	if n == "" {
		return fieldError(field, "required")
	}
	return api.ValidateName(field, n)
}

// agent checks a node a step names (to drain, to count allocations on, to
// fault replicas on) is one of the lab's agents, as a fault checks the
// process it names.
func (v *validation) agent(field, n string) error {
	return v.known(field, n, v.sc.Lab.agents())
}

// known checks a node name is one of names.
func (v *validation) known(field, n string, names []string) error {
	if err := nodeName(field, n); err != nil {
		return err
	}
	if !slices.Contains(names, n) {
		return fieldError(field, "the lab has no node %q (it has %s)", n, strings.Join(names, ", "))
	}
	return nil
}

func (v *validation) apply(i int, a *ApplyStep) error {
	field := stepField(i, "apply")
	label := v.sc.Source + ": " + field
	var data []byte
	switch {
	case len(a.Spec) > 0 && a.File != "":
		return fieldError(field, "spec or file, not both")
	case len(a.Spec) > 0:
		data = a.Spec
	case a.File != "":
		if v.files == nil {
			return fieldError(field+".file", "%q: no files to read it from", a.File)
		}
		if !fs.ValidPath(path.Clean(a.File)) {
			return fieldError(field+".file", "%q: want a path relative to the scenario's directory, and inside it", a.File)
		}
		p := path.Join(v.dir, a.File)
		b, err := fs.ReadFile(v.files, p)
		if err != nil {
			return fieldError(field+".file", "%v", err)
		}
		data, label = b, label+": "+a.File
	default:
		return fieldError(field, "want spec (a service document) or file")
	}
	specs, err := api.DecodeServices(label, data)
	if err != nil {
		return err
	}
	v.sc.specs[i] = specs
	return nil
}

func (v *validation) condition(field string, c *Condition) error {
	if len(c.parts()) == 0 {
		return fieldError(field, "nothing to check: want allocations, service, rollout, event, dns, node, leader or load")
	}
	if a := c.Allocations; a != nil {
		f := field + ".allocations"
		if err := name(f+".service", a.Service, a.Namespace); err != nil {
			return err
		}
		if a.Revision < 0 {
			return fieldError(f+".revision", "must not be negative")
		}
		if a.Running == nil && a.Ready == nil && a.PerNode == nil && a.Nodes == nil && a.Restarts == nil && a.Failed == nil {
			return fieldError(f, "nothing to check: want running, ready, perNode, nodes, restarts or failed")
		}
		for _, node := range sortedKeys(a.PerNode) {
			if err := v.agent(f+".perNode."+node, node); err != nil {
				return err
			}
		}
	}
	if s := c.Service; s != nil {
		f := field + ".service"
		if err := name(f+".name", s.Name, s.Namespace); err != nil {
			return err
		}
		if s.Replicas == nil && s.Running == nil && s.Ready == nil && s.Revision == nil && s.Health == "" &&
			s.Unplaced == nil && s.PlacementFailure == "" && s.Autoscaled == "" {
			return fieldError(f, "nothing to check: want replicas, running, ready, revision, health, unplaced, placementFailure or autoscaled")
		}
		if h := s.Health; h != "" && h != api.HealthHealthy && h != api.HealthCrashLooping && h != api.HealthDegraded {
			return fieldError(f+".health", "want healthy, crash-looping or degraded, got %q", h)
		}
	}
	if r := c.Rollout; r != nil {
		f := field + ".rollout"
		if err := name(f+".service", r.Service, r.Namespace); err != nil {
			return err
		}
		switch r.Phase {
		case "", api.PhaseProgressing, api.PhasePaused, api.PhaseCompleted, api.PhaseAborted, api.PhaseFailed:
		default:
			return fieldError(f+".phase", "want progressing, paused, completed, aborted or failed, got %q", r.Phase)
		}
		for rev := range r.Weights {
			if n, err := strconv.Atoi(rev); err != nil || n < 1 {
				return fieldError(f+".weights."+rev, "want a revision number as the key")
			}
		}
		if r.Revision < 0 {
			return fieldError(f+".revision", "must not be negative")
		}
		if r.Verdict != "" && !slices.Contains(abVerdicts, r.Verdict) {
			return fieldError(f+".verdict", "want %s, got %q", strings.Join(abVerdicts, ", "), r.Verdict)
		}
	}
	if e := c.Event; e != nil {
		f := field + ".event"
		if e.Type == "" && e.Message == "" {
			return fieldError(f, "want a type, a message, or both")
		}
		if e.Service != "" {
			if err := name(f+".service", e.Service, e.Namespace); err != nil {
				return err
			}
		}
		if e.Node != "" {
			// Servers' events may name them too.
			if err := v.known(f+".node", e.Node, v.sc.Lab.processes()); err != nil {
				return err
			}
		}
	}
	if d := c.DNS; d != nil {
		f := field + ".dns"
		if d.Name == "" {
			return fieldError(f+".name", "required, e.g. web.default.svc.flotilla")
		}
		if _, ok := dnsTypes[d.qtype()]; !ok {
			return fieldError(f+".type", "want A or SRV, got %q", d.Type)
		}
		if d.Rcode != "" && d.Rcode != "NOERROR" && d.Rcode != "NXDOMAIN" {
			return fieldError(f+".rcode", "want NOERROR or NXDOMAIN, got %q", d.Rcode)
		}
		if d.VIP != "" && d.qtype() != "A" {
			return fieldError(f+".vip", "only with type A")
		}
		if d.Answers == nil && d.VIP == "" && d.Rcode == "" {
			return fieldError(f, "nothing to check: want answers, vip or rcode")
		}
	}
	if n := c.Node; n != nil {
		f := field + ".node"
		if err := v.agent(f+".name", n.Name); err != nil {
			return err
		}
		switch n.Status {
		case "", api.NodeReady, api.NodeDown, api.NodeDraining:
		default:
			return fieldError(f+".status", "want ready, down or draining, got %q", n.Status)
		}
		if n.Status == "" && n.Eligible == nil {
			return fieldError(f, "nothing to check: want status or eligible")
		}
	}
	if l := c.Load; l != nil {
		f := field + ".load"
		if l.Name == "" {
			return fieldError(f+".name", "required: the name a load step started")
		}
		if bad, where := v.fails(func(m *modeState) bool { return m.loads[l.Name] != 0 }); bad {
			return fieldError(f+".name", "no load %q has started before this step%s", l.Name, where)
		}
		if err := loadExpect(f, l); err != nil {
			return err
		}
	}
	return nil
}

func loadExpect(field string, l *LoadCondition) error {
	if l.Requests == nil && l.Errors == nil && l.MaxErrorRate == nil && l.MaxP99 == nil && l.Versions == nil {
		return fieldError(field, "nothing to check: want requests, errors, maxErrorRate, maxP99 or versions")
	}
	return nil
}

func (v *validation) load(field string, l *LoadStep) error {
	switch {
	case l.Start != "" && l.Stop != "":
		return fieldError(field, "start or stop, not both")
	case l.Start == "" && l.Stop == "":
		return fieldError(field, "want start (a new load's name) or stop (a running load's)")
	case l.Stop != "":
		if bad, where := v.fails(func(m *modeState) bool { return m.loads[l.Stop] == 1 }); bad {
			return fieldError(field+".stop", "no load %q is running at this step%s", l.Stop, where)
		}
		if l.Service != "" || l.Namespace != "" || l.Rate != 0 || l.Duration != 0 || l.Profile != "" || l.Period != 0 || l.MinRate != 0 ||
			l.Timeout != 0 || l.Path != "" || l.Port != "" || l.visitors() {
			return fieldError(field, "a stop takes only expect")
		}
		v.each(func(m *modeState) { m.loads[l.Stop] = 2 })
		if l.Expect != nil {
			if l.Expect.Name != "" {
				return fieldError(field+".expect.name", "not here: the load is the one stopped")
			}
			return loadExpect(field+".expect", l.Expect)
		}
		return nil
	}
	if bad, where := v.fails(func(m *modeState) bool { return m.loads[l.Start] == 0 }); bad {
		return fieldError(field+".start", "a load named %q started before%s", l.Start, where)
	}
	if err := name(field+".service", l.Service, l.Namespace); err != nil {
		return err
	}
	if l.Expect != nil {
		return fieldError(field+".expect", "only when the load stops")
	}
	if l.Path != "" && !strings.HasPrefix(l.Path, "/") {
		return fieldError(field+".path", "want an absolute path such as /api, got %q", l.Path)
	}
	if l.Profile == "" {
		for _, f := range []struct {
			name string
			set  bool
		}{{"period", l.Period != 0}, {"minRate", l.MinRate != 0}} {
			if f.set {
				return fieldError(field+"."+f.name, "only with a profile (sine or square): without one the rate is steady")
			}
		}
	}
	if l.Users == 0 {
		for _, f := range []struct {
			name string
			set  bool
		}{{"userHeader", l.UserHeader != ""}, {"checkoutRatio", l.CheckoutRatio != nil}, {"checkoutPath", l.CheckoutPath != ""}, {"seed", l.Seed != 0}} {
			if f.set {
				return fieldError(field+"."+f.name, "only with users (simulated visitors)")
			}
		}
	}
	if l.Rate > MaxLoadRate {
		return fieldError(field+".rate", "must be at most %d, got %g", MaxLoadRate, l.Rate)
	}
	cfg := l.config("http://127.0.0.1/")
	if err := cfg.Validate(); err != nil {
		return fieldError(field, "%v", err)
	}
	v.each(func(m *modeState) { m.loads[l.Start] = 1 })
	return nil
}

// config is the load generator's configuration for a start step.
func (l *LoadStep) config(url string) loadgen.Config {
	d := l.Duration.Std()
	if d == 0 {
		d = untilStopped
	}
	cfg := loadgen.Config{URL: url + strings.TrimPrefix(l.Path, "/"), Rate: l.Rate, Duration: d, Profile: l.Profile,
		Period: l.Period.Std(), MinRate: l.MinRate, Timeout: l.Timeout.Std(), ProgressInterval: loadProgress, Users: l.Users}
	if l.Users > 0 {
		cfg.UserHeader, cfg.CheckoutPath, cfg.CheckoutRatio = l.UserHeader, l.CheckoutPath, l.checkoutRatio()
		if l.Seed != 0 {
			cfg.Rand = rand.NewPCG(l.Seed, l.Seed)
		}
	}
	return cfg
}

// DefaultCheckoutRatio is the share of visits that check out when a load
// with users names none (that of `flotilla load --users`).
const DefaultCheckoutRatio = 0.3

func (l *LoadStep) checkoutRatio() float64 {
	if l.CheckoutRatio == nil {
		return DefaultCheckoutRatio
	}
	return *l.CheckoutRatio
}

// visitors reports whether any of the simulated visitors' fields is set.
func (l *LoadStep) visitors() bool {
	return l.Users != 0 || l.UserHeader != "" || l.CheckoutRatio != nil || l.CheckoutPath != "" || l.Seed != 0
}

// MaxLoadRate bounds a load step's rate (requests or visits per second):
// far more than a lab's proxies answer, and a load the run's loop keeps
// up with (a rate of 1e9 never let a virtual run's clock move on).
const MaxLoadRate = 100000

// untilStopped is the duration of a load without one: longer than any
// scenario; a stop or the scenario's end cuts it short.
const untilStopped = 24 * time.Hour

func (v *validation) fault(field string, f *FaultStep) error {
	type action struct {
		name string
		set  bool
	}
	var set []string
	for _, a := range []action{
		{"kill", f.Kill != ""}, {"pause", f.Pause != ""}, {"resume", f.Resume != ""}, {"restart", f.Restart != ""},
		{"partition", f.Partition != ""}, {"heal", f.Heal != ""},
		{"crash", f.Crash}, {"readiness", f.Readiness != ""}, {"liveness", f.Liveness != ""},
		{"latency", f.Latency != ""}, {"errorRate", f.ErrorRate != ""},
	} {
		if a.set {
			set = append(set, a.name)
		}
	}
	switch len(set) {
	case 0:
		return fieldError(field, "want one of kill, pause, resume, restart, partition, heal (a node) or crash, readiness, liveness, latency, errorRate (the demo app)")
	case 1:
	default:
		return fieldError(field, "one fault per step, got %s", strings.Join(set, " and "))
	}
	if node := f.nodeTarget(); node != "" {
		if f.Service != "" || f.Namespace != "" || f.Node != "" || f.Revision != 0 || f.Replicas != 0 || f.All {
			return fieldError(field, "%s takes a node only", set[0])
		}
		if f.Heal != "" {
			if bad, where := v.fails(func(m *modeState) bool { return m.partitioned }); bad {
				return fieldError(field+".heal", "no partition came before%s", where)
			}
			switch node {
			case NodeLeader, NodeFollower:
				return fieldError(field+".heal", "%s names the server that leads (or not) now, not one cut off: heal last, a node by name, or all", node)
			case NodeAll:
				return nil
			}
		}
		switch node {
		case NodeLeader, NodeFollower:
		case NodeLast:
			if bad, where := v.fails(func(m *modeState) bool { return m.nodeFault }); bad {
				return fieldError(field+"."+set[0], "last: no node fault came before%s", where)
			}
		default:
			known := v.sc.Lab.processes()
			found := false
			for _, p := range known {
				found = found || p == node
			}
			if !found {
				also := "leader, follower, last"
				if f.Heal != "" {
					also = "last, all"
				}
				return fieldError(field+"."+set[0], "the lab has no %q (it has %s; or %s)", node, strings.Join(known, ", "), also)
			}
		}
		v.each(func(m *modeState) {
			m.nodeFault = true
			m.partitioned = m.partitioned || f.Partition != ""
		})
		return nil
	}
	if err := name(field+".service", f.Service, f.Namespace); err != nil {
		return err
	}
	switch {
	case f.Replicas < 0:
		return fieldError(field+".replicas", "must not be negative")
	case f.All && f.Replicas > 0:
		return fieldError(field+".all", "all or replicas, not both")
	case f.Revision < 0:
		return fieldError(field+".revision", "must not be negative")
	}
	if f.Node != "" {
		if err := v.agent(field+".node", f.Node); err != nil {
			return err
		}
	}
	for _, t := range []struct{ name, value string }{{"readiness", f.Readiness}, {"liveness", f.Liveness}} {
		if t.value != "" && t.value != "fail" && t.value != "pass" {
			return fieldError(field+"."+t.name, "want fail or pass, got %q", t.value)
		}
	}
	if f.Latency != "" {
		if _, err := workload.ParseLatency(f.Latency); err != nil {
			return fieldError(field+".latency", "%v", err)
		}
	}
	if f.ErrorRate != "" {
		if _, err := parseRate(f.ErrorRate); err != nil {
			return fieldError(field+".errorRate", "%v", err)
		}
	}
	return nil
}

// nodeTarget is the node a node fault names ("" for an app fault).
func (f *FaultStep) nodeTarget() string {
	for _, n := range []string{f.Kill, f.Pause, f.Resume, f.Restart, f.Partition, f.Heal} {
		if n != "" {
			return n
		}
	}
	return ""
}

// parseRate reads an error rate as the demo app takes it: 0.3 or 30%.
func parseRate(s string) (float64, error) {
	var r float64
	if strings.HasSuffix(strings.TrimSpace(s), "%") {
		p, err := api.ParsePercent(s)
		if err != nil {
			return 0, err
		}
		r = p.Fraction()
	} else {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, errors.New("want a share such as 0.3 or 30%")
		}
		r = f
	}
	if !(r >= 0 && r <= 1) || math.IsNaN(r) {
		return 0, fmt.Errorf("%s is not between 0 and 1", s)
	}
	return r, nil
}

func rollout(field string, r *RolloutStep) error {
	if err := name(field+".service", r.Service, r.Namespace); err != nil {
		return err
	}
	found := false
	for _, a := range rolloutActions {
		found = found || a == r.Action
	}
	switch {
	case !found:
		return fieldError(field+".action", "want %s, got %q", strings.Join(rolloutActions, ", "), r.Action)
	case r.Full && r.Action != api.ActionPromote:
		return fieldError(field+".full", "only with promote")
	case r.ToRevision != 0 && r.Action != ActionUndo:
		return fieldError(field+".toRevision", "only with undo")
	case r.ToRevision < 0:
		return fieldError(field+".toRevision", "must not be negative")
	}
	return nil
}
