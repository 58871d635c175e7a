package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"flotilla/api"
)

// Scenario is one scenario file.
type Scenario struct {
	// Title is one line; Teaches says, in a sentence or two, what the
	// scenario shows.
	Title   string  `json:"title"`
	Teaches string  `json:"teaches"`
	Lab     LabSpec `json:"lab"`
	Steps   []Step  `json:"steps"`

	// Name is the file's name without .yaml (the library's name for it);
	// Source is what errors call the file; Text is the file as written.
	Name   string `json:"-"`
	Source string `json:"-"`
	Text   string `json:"-"`
	// specs are the decoded services of each apply step, by step index.
	specs map[int][]api.ServiceSpec
}

// LabSpec is the lab a scenario needs.
type LabSpec struct {
	Servers int    `json:"servers,omitempty"`
	Agents  int    `json:"agents,omitempty"`
	Runtime string `json:"runtime,omitempty"`
}

// Step is one step: exactly one of its fields is set.
type Step struct {
	// Say is narration, printed as it is.
	Say     string        `json:"say,omitempty"`
	Apply   *ApplyStep    `json:"apply,omitempty"`
	Delete  *DeleteStep   `json:"delete,omitempty"`
	Wait    *WaitStep     `json:"wait,omitempty"`
	Expect  *Condition    `json:"expect,omitempty"`
	Load    *LoadStep     `json:"load,omitempty"`
	Fault   *FaultStep    `json:"fault,omitempty"`
	Rollout *RolloutStep  `json:"rollout,omitempty"`
	Scale   *ScaleStep    `json:"scale,omitempty"`
	Drain   *DrainStep    `json:"drain,omitempty"`
	Sleep   *api.Duration `json:"sleep,omitempty"`
	// Only plays the step in one mode: "live" (a lab of processes) or
	// "virtual" (`run --virtual`); empty plays it in both. An hour of
	// load is a virtual-only step, for example.
	Only string `json:"only,omitempty"`
}

// Modes a step may be limited to (Step.Only).
const (
	OnlyLive    = "live"
	OnlyVirtual = "virtual"
)

// Step kinds, as Kind names them.
const (
	KindSay     = "say"
	KindApply   = "apply"
	KindDelete  = "delete"
	KindWait    = "wait"
	KindExpect  = "expect"
	KindLoad    = "load"
	KindFault   = "fault"
	KindRollout = "rollout"
	KindScale   = "scale"
	KindDrain   = "drain"
	KindSleep   = "sleep"
)

// kinds lists the kinds a step sets, in the order of Step's fields.
func (s *Step) kinds() []string {
	var out []string
	for _, k := range []struct {
		set  bool
		name string
	}{
		{s.Say != "", KindSay}, {s.Apply != nil, KindApply}, {s.Delete != nil, KindDelete},
		{s.Wait != nil, KindWait}, {s.Expect != nil, KindExpect}, {s.Load != nil, KindLoad},
		{s.Fault != nil, KindFault}, {s.Rollout != nil, KindRollout}, {s.Scale != nil, KindScale},
		{s.Drain != nil, KindDrain}, {s.Sleep != nil, KindSleep},
	} {
		if k.set {
			out = append(out, k.name)
		}
	}
	return out
}

// Kind is the step's kind (say, apply, ...); valid after Parse.
func (s *Step) Kind() string {
	if k := s.kinds(); len(k) == 1 {
		return k[0]
	}
	return ""
}

// ApplyStep creates or updates services: an inline service document, or
// a file of one or more, relative to the scenario's directory (and inside
// it).
type ApplyStep struct {
	Spec json.RawMessage `json:"spec,omitempty"`
	File string          `json:"file,omitempty"`
}

// DeleteStep deletes a service.
type DeleteStep struct {
	Service   string `json:"service"`
	Namespace string `json:"namespace,omitempty"`
}

// WaitStep waits until every condition it names holds, for at most
// Timeout (DefaultWaitTimeout when unset).
type WaitStep struct {
	Condition
	Timeout api.Duration `json:"timeout,omitempty"`
}

// DefaultWaitTimeout bounds a wait that names no timeout.
const DefaultWaitTimeout = 30 * time.Second

// LoadStep starts or stops a background load through a service's VIP.
type LoadStep struct {
	// Start names a new load; Stop ends the load of that name, and checks
	// Expect against its figures.
	Start string `json:"start,omitempty"`
	Stop  string `json:"stop,omitempty"`
	// What to load (Start): a service, through its VIP, on Port (a name
	// or number; default its first http port), at Path.
	Service   string `json:"service,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Port      string `json:"port,omitempty"`
	Path      string `json:"path,omitempty"`
	// How hard (Start): requests per second (the peak, with a profile),
	// for Duration (unset: until stopped, or the scenario ends).
	Rate     float64      `json:"rate,omitempty"`
	Duration api.Duration `json:"duration,omitempty"`
	// Profile (sine or square) moves the rate between MinRate and Rate
	// once every Period.
	Profile string       `json:"profile,omitempty"`
	Period  api.Duration `json:"period,omitempty"`
	MinRate float64      `json:"minRate,omitempty"`
	Timeout api.Duration `json:"timeout,omitempty"`
	// Users (Start), when more than 0, makes the requests visits by that
	// many simulated visitors, each with its own cookie jar, as `flotilla
	// load --users` does: Rate is then visits per second. A visit GETs
	// Path and, in CheckoutRatio of the visits (0.3 when unset), then
	// POSTs CheckoutPath (/checkout when unset). UserHeader carries each
	// visitor's id ("user-17"); Seed, when set, replays who visits and who
	// checks out.
	Users         int      `json:"users,omitempty"`
	UserHeader    string   `json:"userHeader,omitempty"`
	CheckoutRatio *float64 `json:"checkoutRatio,omitempty"`
	CheckoutPath  string   `json:"checkoutPath,omitempty"`
	Seed          uint64   `json:"seed,omitempty"`
	// Expect is checked against the load's figures when it stops.
	Expect *LoadCondition `json:"expect,omitempty"`
}

// FaultStep injects one fault. Node faults (Kill, Pause, Resume, Restart,
// Partition) name a lab process (s1, n2), or leader, follower (a server
// that does not lead) or last (the process the previous node fault hit).
// Partition cuts that node off the lab network while it keeps running;
// Heal reconnects a node (by name or last), or all of them. App faults
// (Crash, Readiness, Liveness, Latency, ErrorRate) go to the demo app of
// Replicas running allocations of Service (1 by default; All: every one).
type FaultStep struct {
	Kill      string `json:"kill,omitempty"`
	Pause     string `json:"pause,omitempty"`
	Resume    string `json:"resume,omitempty"`
	Restart   string `json:"restart,omitempty"`
	Partition string `json:"partition,omitempty"`
	Heal      string `json:"heal,omitempty"`

	Crash     bool   `json:"crash,omitempty"`
	Readiness string `json:"readiness,omitempty"` // fail or pass
	Liveness  string `json:"liveness,omitempty"`  // fail or pass
	Latency   string `json:"latency,omitempty"`   // the demo app's --latency syntax
	ErrorRate string `json:"errorRate,omitempty"` // 0.3 or 30%

	Service   string `json:"service,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Node      string `json:"node,omitempty"`     // only allocations on this node
	Revision  int    `json:"revision,omitempty"` // only allocations of this revision
	Replicas  int    `json:"replicas,omitempty"`
	All       bool   `json:"all,omitempty"`
}

// RolloutStep acts on a service's rollout.
type RolloutStep struct {
	Service   string `json:"service"`
	Namespace string `json:"namespace,omitempty"`
	// Action: promote, pause, resume, abort, retry or undo.
	Action string `json:"action"`
	// Full promotes all the way; ToRevision is undo's target (0: the one
	// before the current).
	Full       bool `json:"full,omitempty"`
	ToRevision int  `json:"toRevision,omitempty"`
}

// ScaleStep sets a service's replica count.
type ScaleStep struct {
	Service   string `json:"service"`
	Namespace string `json:"namespace,omitempty"`
	Replicas  *int   `json:"replicas"`
}

// DrainStep drains a node (its allocations move away and it takes no new
// ones), or with Cancel ends the drain and makes it eligible again.
type DrainStep struct {
	Node   string `json:"node"`
	Cancel bool   `json:"cancel,omitempty"`
}

// Rollout actions a step may take.
const ActionUndo = "undo"

var rolloutActions = []string{api.ActionPromote, api.ActionPause, api.ActionResume, api.ActionAbort, api.ActionRetry, ActionUndo}

// Parse reads a scenario file strictly and checks every step. source
// names the file in errors ("node-loss.yaml"); files, when not nil, is
// where apply steps' files are found (relative to dir). Errors name the
// step and field: "node-loss.yaml: steps[3].wait.allocations.runing:
// unknown field (did you mean "running"?)".
func Parse(source string, data []byte, files fs.FS, dir string) (*Scenario, error) {
	js, huge, err := yamlToJSON(data)
	if err != nil {
		var fe *api.FieldError
		if errors.As(err, &fe) {
			fe.Source = source
			return nil, fe
		}
		return nil, &api.FieldError{Source: source, Message: err.Error()}
	}
	var sc Scenario
	if err := api.DecodeStrict(source, "", js, &sc); err != nil {
		// YAML reads 1e999 as a string: in a number's place, say what
		// it is.
		var fe *api.FieldError
		if errors.As(err, &fe) && huge[fe.Field] != "" {
			fe.Message = fmt.Sprintf("number %s is out of range", huge[fe.Field])
		}
		return nil, err
	}
	sc.Source, sc.Text = source, string(data)
	sc.Name = trimYAML(path.Base(source))
	if err := sc.validate(files, dir); err != nil {
		var fe *api.FieldError
		if errors.As(err, &fe) && fe.Source == "" {
			fe.Source = source
		}
		return nil, err
	}
	return &sc, nil
}

// yamlToJSON reads a YAML document (YAML 1.2, as the API reads service
// documents: a duplicate key is an error, a merge key's values may be
// overridden) and writes it as JSON for the strict decoder. A scenario is
// one document: a second (after ---) is refused, not left unread. huge
// are the fields holding a number too large for a float64 (1e999), which
// YAML reads as a string, by path.
func yamlToJSON(data []byte) (js []byte, huge map[string]string, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, oneLine(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, nil, oneLine(err)
	case !emptyDocument(&next):
		return nil, nil, fmt.Errorf("a scenario is one YAML document: a second one begins at line %d (after ---)", next.Content[0].Line)
	}
	huge = map[string]string{}
	if fe := finiteNumbers(&doc, "", huge); fe != nil {
		return nil, nil, fe
	}
	var tree any
	if err := doc.Decode(&tree); err != nil {
		return nil, nil, oneLine(err)
	}
	if tree == nil {
		return nil, nil, errors.New("empty scenario")
	}
	if _, ok := tree.(map[string]any); !ok {
		return nil, nil, errors.New("a scenario is a mapping (title, teaches, lab, steps)")
	}
	js, err = json.Marshal(jsonTree(tree))
	return js, huge, err
}

// oneLine is a YAML error on one line: "yaml: unmarshal errors: line 2:
// mapping key ...".
func oneLine(err error) error {
	return errors.New(strings.Join(strings.Fields(err.Error()), " "))
}

// finiteNumbers refuses a number that is not finite (.inf, .nan) or out
// of float64's range (1e999, which YAML reads as a string), naming its
// field: "steps[3].load.rate: must be a finite number, got .inf". A plain
// scalar out of float64's range (1e999) YAML reads as a string, which a
// text field may hold: it goes in huge, by path. Aliases are checked
// where their anchor is.
func finiteNumbers(n *yaml.Node, path string, huge map[string]string) *api.FieldError {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if fe := finiteNumbers(c, path, huge); fe != nil {
				return fe
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := path
			if k := n.Content[i]; k.ShortTag() != "!!merge" {
				p = k.Value
				if path != "" {
					p = path + "." + k.Value
				}
			}
			if fe := finiteNumbers(n.Content[i+1], p, huge); fe != nil {
				return fe
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if fe := finiteNumbers(c, fmt.Sprintf("%s[%d]", path, i), huge); fe != nil {
				return fe
			}
		}
	case yaml.ScalarNode:
		switch {
		case n.ShortTag() == "!!float":
			var f float64
			if err := n.Decode(&f); err == nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
				return &api.FieldError{Field: path, Message: "must be a finite number, got " + n.Value}
			}
		case n.ShortTag() == "!!str" && n.Style == 0:
			if _, err := strconv.ParseFloat(n.Value, 64); errors.Is(err, strconv.ErrRange) {
				huge[path] = n.Value
			}
		}
	}
	return nil
}

// emptyDocument reports whether a document holds nothing: what a file
// ending in --- has after it.
func emptyDocument(n *yaml.Node) bool {
	return len(n.Content) == 0 || (len(n.Content) == 1 && n.Content[0].ShortTag() == "!!null")
}

// jsonTree makes a YAML tree encodable as JSON: keys that are not strings
// ({1: 100}) are written as strings.
func jsonTree(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonTree(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonTree(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonTree(e)
		}
		return v
	}
	return v
}

// trimYAML drops a .yaml or .yml suffix.
func trimYAML(name string) string {
	for _, ext := range []string{".yaml", ".yml"} {
		if len(name) > len(ext) && name[len(name)-len(ext):] == ext {
			return name[:len(name)-len(ext)]
		}
	}
	return name
}

// Specs are the services an apply step applies.
func (sc *Scenario) Specs(step int) []api.ServiceSpec { return sc.specs[step] }

// Services lists the services the scenario applies, as namespace/name.
func (sc *Scenario) Services() []string {
	seen := map[string]bool{}
	var out []string
	for i := range sc.Steps {
		for _, s := range sc.specs[i] {
			key := s.Namespace + "/" + s.Name
			if !seen[key] {
				seen[key] = true
				out = append(out, key)
			}
		}
	}
	return out
}

// stepField names a step's field in errors: "steps[3].wait.timeout".
func stepField(i int, field string) string {
	if field == "" {
		return fmt.Sprintf("steps[%d]", i)
	}
	return fmt.Sprintf("steps[%d].%s", i, field)
}
