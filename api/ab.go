package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ABRollout runs an experiment between the stable revision (variant A)
// and the new one (variant B): each user is given a variant, by rule or by
// a split of users, and keeps it; the proxies count per variant the
// distinct visitors and those who reached the goal; the leader compares
// the conversion rates and, with AutoPromote, promotes B or keeps A once
// one wins at Confidence.
type ABRollout struct {
	// Match sends the requests that match any rule to B (and the others
	// to A); exactly one of Match and Split.
	Match []Match `json:"match,omitempty"`
	// Split is the share of users that get B, by a hash of their user key
	// (default 50% when there are no rules).
	Split *Percent `json:"split,omitempty"`
	// UserHeader names the request header that identifies a user (such as
	// X-User-Id); requests without it, and every request when it is left
	// out, are identified by a cookie the proxy sets.
	UserHeader string `json:"userHeader,omitempty"`
	// Goal says what a conversion is.
	Goal ABGoal `json:"goal"`
	// Confidence is 1 − the chance of declaring a false winner over the
	// whole experiment (default 95%).
	Confidence *Percent `json:"confidence,omitempty"`
	// MinSample is the visitors each variant needs before a verdict;
	// left out, it is sized from MinDetectableLift and the conversion rate.
	MinSample *int `json:"minSample,omitempty"`
	// MinDetectableLift is the relative lift the sized minimum sample is
	// meant to find 80% of the time (default 20%).
	MinDetectableLift *Percent `json:"minDetectableLift,omitempty"`
	// AutoPromote acts on a verdict: B wins, B is promoted; A wins, the
	// rollout ends with A. Otherwise a person promotes or aborts.
	AutoPromote bool `json:"autoPromote,omitempty"`
	// Interval is how often the figures are analysed (default 10s).
	Interval Duration `json:"interval,omitempty"`
}

// ABGoal is what counts as a conversion: a request to Path (with Method,
// when set) answered with a 2xx or 3xx status, or an answer that carries
// the response header Header with a value other than "", "0" or "false".
// Exactly one of Path and Header.
type ABGoal struct {
	Path   string `json:"path,omitempty"`
	Method string `json:"method,omitempty"`
	Header string `json:"header,omitempty"`
}

// String describes the goal: "POST /checkout", "response header
// X-Conversion".
func (g ABGoal) String() string {
	switch {
	case g.Header != "":
		return "response header " + g.Header
	case g.Method != "":
		return g.Method + " " + g.Path
	}
	return g.Path
}

// ABRoute is an A/B experiment in a route table. Requests a rule sends
// nowhere go to B when the hash of their user key (the UserHeader when
// the request has it, else the Cookie, which the proxy sets when it is
// missing) falls in B's Split of users, else to A. The hash is salted
// per rollout, so every proxy gives a user the same variant, before and
// after restarts, and a new experiment deals users afresh. Proxies count
// the distinct user keys of each variant, and those that reached Goal,
// and report them with their traffic (TrafficReport.AB).
type ABRoute struct {
	Salt       string  `json:"salt"`
	A          int     `json:"a"`
	B          int     `json:"b"`
	Split      Percent `json:"split"`
	Cookie     string  `json:"cookie"`
	UserHeader string  `json:"userHeader,omitempty"`
	Goal       ABGoal  `json:"goal"`
}

// ABReport is what one proxy counted of one variant of an A/B experiment
// since it began: HyperLogLog sketches (internal/sketch, at most 16 KiB
// each) of the user-key hashes it served and of those that converted.
// They are cumulative and merge by union, so a report sent twice, or by a
// restarted proxy, counts nobody twice.
type ABReport struct {
	Salt      string `json:"salt"`
	Visitors  Sketch `json:"visitors,omitempty"`
	Converted Sketch `json:"converted,omitempty"`
}

// Sketch is an encoded HyperLogLog sketch (internal/sketch), written in
// JSON as a base64 string.
type Sketch []byte

func (s Sketch) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.StdEncoding.EncodeToString(s))
}

func (s *Sketch) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	var text string
	if err := json.Unmarshal(b, &text); err != nil {
		return fmt.Errorf("a sketch is a base64 string: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return fmt.Errorf("a sketch is a base64 string: %w", err)
	}
	if len(raw) == 0 {
		raw = nil
	}
	*s = raw
	return nil
}

// ABState is an A/B rollout's experiment: its salt, how far the planned
// looks got, the last analysis and, once given, the verdict.
type ABState struct {
	Salt        string `json:"salt"`
	Goal        string `json:"goal"`
	AutoPromote bool   `json:"autoPromote,omitempty"`
	// LooksDone counts the planned looks tested (see
	// scheduler/rollout.AnalyzeAB): kept in Raft, so that a new leader
	// never tests a look twice.
	LooksDone int `json:"looksDone"`
	// Verdict is the final verdict ("B wins", "A wins", "no winner"); empty
	// while the experiment runs.
	Verdict string      `json:"verdict,omitempty"`
	Last    *ABAnalysis `json:"last,omitempty"`
	// Sketches are the merged visitor sketches per variant as of the last
	// analysis: a new leader starts from them, so the counts never go
	// back. Reads of the rollout leave them out.
	Sketches []ABSketch `json:"sketches,omitempty"`
}

// ABSketch is one variant's merged sketches (see ABReport).
type ABSketch struct {
	Revision  int    `json:"revision"`
	Visitors  Sketch `json:"visitors,omitempty"`
	Converted Sketch `json:"converted,omitempty"`
}

// ABAnalysis is one analysis of an A/B experiment: each variant's
// conversion rate with its confidence interval, B's difference and lift
// over A, the two-sided p-value, the minimum sample and the planned look.
type ABAnalysis struct {
	Time       time.Time        `json:"time,omitzero"`
	Verdict    string           `json:"verdict"`
	Message    string           `json:"message"`
	A          ABVariantFigures `json:"a"`
	B          ABVariantFigures `json:"b"`
	Difference ABEstimate       `json:"difference"`
	// Lift is nil while either variant has no conversion.
	Lift   *ABEstimate `json:"lift,omitempty"`
	PValue float64     `json:"pValue"`
	// MinSample is the visitors per variant before the first look (0
	// while it cannot be sized); NextLook when the next look is due (0:
	// none left).
	MinSample int64   `json:"minSample"`
	Look      int     `json:"look,omitempty"`
	Alpha     float64 `json:"alpha,omitempty"`
	LooksDone int     `json:"looksDone"`
	NextLook  int64   `json:"nextLook,omitempty"`
}

// ABVariantFigures are one variant's visitors, conversions and rate.
type ABVariantFigures struct {
	Revision    int        `json:"revision"`
	Visitors    uint64     `json:"visitors"`
	Conversions uint64     `json:"conversions"`
	Rate        ABEstimate `json:"rate"`
}

// ABEstimate is a figure with its confidence interval.
type ABEstimate struct {
	Value float64 `json:"value"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

// Defaults of the ab block.
const (
	defaultABSplit             Percent = 50
	defaultABConfidence        Percent = 95
	defaultABMinDetectableLift Percent = 20
	defaultABInterval                  = Duration(10 * time.Second)
)

// setDefaults fills an ab block: split 50% unless rules decide, confidence
// 95%, minDetectableLift 20%, interval 10s; minSample stays unset (sized by
// power).
func (ab *ABRollout) setDefaults() {
	if len(ab.Match) == 0 {
		fillUnset(&ab.Split, defaultABSplit)
	}
	fillUnset(&ab.Confidence, defaultABConfidence)
	fillUnset(&ab.MinDetectableLift, defaultABMinDetectableLift)
	if ab.Interval == 0 {
		ab.Interval = defaultABInterval
	}
}

// SplitOrDefault is rollout.ab.split: 50% when neither rules nor a split
// are written, 0 with rules.
func (ab *ABRollout) SplitOrDefault() Percent {
	if len(ab.Match) > 0 {
		return valueOr(ab.Split, 0)
	}
	return valueOr(ab.Split, defaultABSplit)
}

// ConfidenceOrDefault is rollout.ab.confidence (default 95%).
func (ab *ABRollout) ConfidenceOrDefault() Percent {
	return valueOr(ab.Confidence, defaultABConfidence)
}

// MinDetectableLiftOrDefault is rollout.ab.minDetectableLift (default 20%).
func (ab *ABRollout) MinDetectableLiftOrDefault() Percent {
	return valueOr(ab.MinDetectableLift, defaultABMinDetectableLift)
}

// IntervalOrDefault is rollout.ab.interval (default 10s).
func (ab *ABRollout) IntervalOrDefault() Duration {
	if ab.Interval == 0 {
		return defaultABInterval
	}
	return ab.Interval
}

// Bounds of the ab block.
const (
	// MinABInterval: the proxies report every second, so a shorter
	// interval would analyse the same figures again.
	MinABInterval       = Duration(time.Second)
	maxABDetectableLift = Percent(1000)
)

func validateAB(f string, ab *ABRollout, ports []Port) *FieldError {
	if len(ab.Match) > 0 && ab.Split != nil {
		return fieldErr(f+".split", "only without match: with rules, the rules decide who gets the new revision")
	}
	for i, m := range ab.Match {
		if fe := validateMatch(indexPath(f+".match", i), m); fe != nil {
			return fe
		}
	}
	if s := ab.SplitOrDefault(); len(ab.Match) == 0 && !(s > 0 && s < 100) {
		return fieldErr(f+".split", "must be more than 0%% and less than 100%% (the share of users that get the new revision), got %s", s)
	}
	if h := ab.UserHeader; h != "" && !isHTTPToken(h) {
		return fieldErr(f+".userHeader", "invalid header name %q", h)
	}
	g := ab.Goal
	gf := f + ".goal"
	switch {
	case g.Path == "" && g.Header == "":
		return fieldErr(gf, "required: a request path (goal: {path: /checkout, method: POST}) or a response header (goal: {header: X-Conversion})")
	case g.Path != "" && g.Header != "":
		return fieldErr(gf, "exactly one of path, header")
	case g.Header != "" && !isHTTPToken(g.Header):
		return fieldErr(gf+".header", "invalid header name %q", g.Header)
	case g.Header != "" && g.Method != "":
		return fieldErr(gf+".method", "only with path")
	case g.Path != "" && (!strings.HasPrefix(g.Path, "/") || strings.ContainsAny(g.Path, "?# \t")):
		return fieldErr(gf+".path", "must be an absolute path without a query, such as /checkout, got %q", g.Path)
	case g.Method != "" && !isHTTPToken(g.Method):
		return fieldErr(gf+".method", "invalid method %q", g.Method)
	case g.Method != strings.ToUpper(g.Method):
		return fieldErr(gf+".method", "methods are case-sensitive: write %q, as clients send it", strings.ToUpper(g.Method))
	}
	switch c := ab.ConfidenceOrDefault(); {
	case !(c >= 50 && c < 100):
		return fieldErr(f+".confidence", "must be at least 50%% and less than 100%%, got %s", c)
	}
	if ab.MinSample != nil && *ab.MinSample < 1 {
		return fieldErr(f+".minSample", "must be at least 1, got %d (leave it out to size it from minDetectableLift)", *ab.MinSample)
	}
	switch l := ab.MinDetectableLiftOrDefault(); {
	case !(l > 0 && l <= maxABDetectableLift):
		return fieldErr(f+".minDetectableLift", "must be more than 0%% and at most %s, got %s", maxABDetectableLift, l)
	}
	if iv := ab.IntervalOrDefault(); iv < MinABInterval {
		return fieldErr(f+".interval", "must be at least %s (the proxies report every second), got %s", MinABInterval, iv)
	}
	if !slices.ContainsFunc(ports, func(p Port) bool { return p.Protocol == ProtocolHTTP }) {
		// Users, rules and goals are read from HTTP requests.
		return fieldErr(f, "needs a port with protocol http: users and goals are read from HTTP requests")
	}
	return nil
}

// validateMatch checks one header or cookie rule.
func validateMatch(mf string, m Match) *FieldError {
	if (m.Header == nil) == (m.Cookie == nil) {
		return fieldErr(mf, "exactly one of header, cookie")
	}
	what, vm := "header", m.Header
	if m.Cookie != nil {
		what, vm = "cookie", m.Cookie
	}
	vf := mf + "." + what
	switch {
	case vm.Name == "":
		return fieldErr(vf+".name", "required")
	case !isHTTPToken(vm.Name):
		return fieldErr(vf+".name", "invalid %s name %q", what, vm.Name)
	}
	set := 0
	for _, v := range []string{vm.Exact, vm.Prefix, vm.Regex} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return fieldErr(vf, "exactly one of exact, prefix, regex")
	}
	if vm.Regex != "" {
		if _, err := regexp.Compile(vm.Regex); err != nil {
			return fieldErr(vf+".regex", "invalid regular expression: %v", err)
		}
	}
	return nil
}
