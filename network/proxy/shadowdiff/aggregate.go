package shadowdiff

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"flotilla/api"
)

// Defaults of Options.
const (
	DefaultMinNoiseComparisons = 20
	DefaultNoiseThreshold      = 0.05
	DefaultNoiseMargin         = 0.25
)

// Bounds on what an Aggregator keeps, whatever the traffic.
const (
	// MaxEndpoints: endpoints past it are counted under OtherEndpoint.
	MaxEndpoints = 32
	// MaxFields per endpoint: fields past it are counted under OtherField.
	MaxFields = 256
	// MaxExamples per field.
	MaxExamples = 3
	// maxRequestLine bounds an example's request line.
	maxRequestLine = 200
	OtherEndpoint  = "(other)"
	OtherField     = "(other)"
)

// Options is the noise rule (doc.go); zero fields take the defaults.
type Options struct {
	// MinNoiseComparisons is the baseline comparisons an endpoint needs
	// before its noise is trusted and its comparisons are judged.
	MinNoiseComparisons int
	// NoiseThreshold: a field is noise when the baseline differs from the
	// primary there in at least this share of noise comparisons...
	NoiseThreshold float64
	// NoiseMargin: ...unless the candidate differs there more often than
	// the noise rate plus this.
	NoiseMargin float64
	// NoBaseline: there is no second stable replica; every comparison is
	// judged at once and no field is noise.
	NoBaseline bool
}

func (o Options) withDefaults() Options {
	if o.MinNoiseComparisons == 0 {
		o.MinNoiseComparisons = DefaultMinNoiseComparisons
	}
	if o.NoiseThreshold == 0 {
		o.NoiseThreshold = DefaultNoiseThreshold
	}
	if o.NoiseMargin == 0 {
		o.NoiseMargin = DefaultNoiseMargin
	}
	return o
}

// Request is what an example shows of the mirrored request.
type Request struct {
	Method string
	// Target is the request target as sent: path and query.
	Target string
}

// Aggregator keeps one shadow rollout's figures on one proxy: per
// endpoint, per field. It is safe for concurrent use.
type Aggregator struct {
	cmp  *Comparer
	opts Options

	mu                sync.Mutex
	mirrored, dropped uint64
	endpoints         map[string]*endpointTally
}

type endpointTally struct {
	comparisons, noiseComparisons, judged, differing int64
	fields                                           map[string]*fieldTally
}

type fieldTally struct {
	candidate, counted, noise int64
	examples                  []Example
}

// NewAggregator keeps figures of the answers cmp compares, judged by opts.
func NewAggregator(cmp *Comparer, opts Options) *Aggregator {
	return &Aggregator{cmp: cmp, opts: opts.withDefaults(), endpoints: map[string]*endpointTally{}}
}

// AddMirrored counts a copy sent to the candidate, compared or not.
func (g *Aggregator) AddMirrored() {
	g.mu.Lock()
	g.mirrored++
	g.mu.Unlock()
}

// AddDropped counts a request that was not mirrored for want of room.
func (g *Aggregator) AddDropped() {
	g.mu.Lock()
	g.dropped++
	g.mu.Unlock()
}

// Record compares the answers to one mirrored request: primary is the
// stable revision's (the client's), candidate the new revision's, and
// baseline a second stable replica's when this request was also sent
// there, else nil. It reports whether the comparison counts against the
// candidate (judged, with a difference that is not noise). The
// comparisons run before the lock is taken.
func (g *Aggregator) Record(req Request, primary, candidate Answer, baseline *Answer) bool {
	diffs := g.cmp.Compare(primary, candidate)
	var noise []Difference
	withBaseline := baseline != nil && !g.opts.NoBaseline
	if withBaseline {
		noise = g.cmp.Compare(primary, *baseline)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.endpoint(endpointOf(req))
	e.comparisons++
	if withBaseline {
		e.noiseComparisons++
		for _, f := range fieldsOf(noise) {
			e.field(f).noise++
		}
	}
	fields := fieldsOf(diffs)
	for _, f := range fields {
		e.field(f).candidate++
	}
	for _, d := range firstOfEachField(diffs) {
		if ft := e.field(d.Field); len(ft.examples) < MaxExamples {
			ft.examples = append(ft.examples, Example{Request: requestLine(req), Path: d.Path, Kind: d.Kind, Stable: d.A, Candidate: d.B})
		}
	}
	if e.learning(g.opts) {
		return false
	}
	e.judged++
	differs := false
	for _, f := range fields {
		if ft := e.field(f); !e.noisy(ft, g.opts) {
			ft.counted++
			differs = true
		}
	}
	if differs {
		e.differing++
	}
	return differs
}

// endpoint is the tally of name, or of OtherEndpoint past MaxEndpoints.
func (g *Aggregator) endpoint(name string) *endpointTally {
	e := g.endpoints[name]
	if e == nil {
		if len(g.endpoints) >= MaxEndpoints {
			if e = g.endpoints[OtherEndpoint]; e != nil {
				return e
			}
			name = OtherEndpoint
		}
		e = &endpointTally{fields: map[string]*fieldTally{}}
		g.endpoints[name] = e
	}
	return e
}

// field is the tally of name, or of OtherField past MaxFields.
func (e *endpointTally) field(name string) *fieldTally {
	f := e.fields[name]
	if f == nil {
		if len(e.fields) >= MaxFields {
			if f = e.fields[OtherField]; f != nil {
				return f
			}
			name = OtherField
		}
		f = &fieldTally{}
		e.fields[name] = f
	}
	return f
}

// learning: the endpoint's noise is not trusted yet.
func (e *endpointTally) learning(o Options) bool {
	return !o.NoBaseline && e.noiseComparisons < int64(o.MinNoiseComparisons)
}

// noisy applies the rule: the baseline differs on the field in at least
// NoiseThreshold of noise comparisons, and the candidate not more often
// than that plus NoiseMargin.
func (e *endpointTally) noisy(f *fieldTally, o Options) bool {
	if o.NoBaseline || e.noiseComparisons == 0 || e.learning(o) {
		return false
	}
	noise := float64(f.noise) / float64(e.noiseComparisons)
	candidate := float64(f.candidate) / float64(max(e.comparisons, 1))
	return noise >= o.NoiseThreshold && candidate <= noise+o.NoiseMargin
}

// endpointOf is "METHOD /path", without the query, bounded.
func endpointOf(r Request) string {
	path, _, _ := strings.Cut(r.Target, "?")
	if path == "" {
		path = "/"
	}
	return truncate(r.Method+" "+path, maxRequestLine)
}

func requestLine(r Request) string { return truncate(r.Method+" "+r.Target, maxRequestLine) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return cut(s[:n]) // whole characters
}

// fieldsOf is the distinct fields of diffs, in order.
func fieldsOf(diffs []Difference) []string {
	var out []string
	for _, d := range diffs {
		if !slices.Contains(out, d.Field) {
			out = append(out, d.Field)
		}
	}
	return out
}

// firstOfEachField is the first difference of each field.
func firstOfEachField(diffs []Difference) []Difference {
	var out []Difference
	for _, d := range diffs {
		if !slices.ContainsFunc(out, func(o Difference) bool { return o.Field == d.Field }) {
			out = append(out, d)
		}
	}
	return out
}

// Report is a shadow rollout's figures, for the API and `rollout diffs`
// (the API owns their shape). Reports of several proxies merge (Merge).
type (
	Report         = api.DiffReport
	EndpointReport = api.DiffEndpoint
	FieldReport    = api.DiffField
	Example        = api.DiffExample
)

// Report is the figures so far.
func (g *Aggregator) Report() Report {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := Report{Mirrored: g.mirrored, Dropped: g.dropped, Endpoints: make([]EndpointReport, 0, len(g.endpoints))}
	for name, e := range g.endpoints {
		er := EndpointReport{
			Endpoint: name, Comparisons: e.comparisons, Judged: e.judged, Differing: e.differing,
			DiffRate: ratio(e.differing, e.judged), NoiseComparisons: e.noiseComparisons, Learning: e.learning(g.opts),
			Fields: make([]FieldReport, 0, len(e.fields)),
		}
		for field, f := range e.fields {
			er.Fields = append(er.Fields, FieldReport{
				Field: field, CandidateDiffs: f.candidate, Counted: f.counted, NoiseDiffs: f.noise,
				CandidateRate: ratio(f.candidate, e.comparisons), NoiseRate: ratio(f.noise, e.noiseComparisons),
				DiffRate: ratio(f.counted, e.judged), Noise: e.noisy(f, g.opts),
				Examples: slices.Clone(f.examples),
			})
		}
		slices.SortFunc(er.Fields, func(a, b FieldReport) int {
			return cmp.Or(cmp.Compare(b.Counted, a.Counted), cmp.Compare(b.CandidateDiffs, a.CandidateDiffs), strings.Compare(a.Field, b.Field))
		})
		r.Comparisons += e.comparisons
		r.Judged += e.judged
		r.Differing += e.differing
		r.NoiseComparisons += e.noiseComparisons
		r.Endpoints = append(r.Endpoints, er)
	}
	r.DiffRate = ratio(r.Differing, r.Judged)
	slices.SortFunc(r.Endpoints, func(a, b EndpointReport) int {
		return cmp.Or(cmp.Compare(b.Comparisons, a.Comparisons), strings.Compare(a.Endpoint, b.Endpoint))
	})
	return r
}

func ratio(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// Merge adds the reports of several proxies into one, as if one proxy had
// recorded everything they did: counts add, the rule is applied to the
// sums, examples are kept up to MaxExamples per field. Each proxy judged
// its comparisons with what it had learned, so Judged and Differing are
// the sums of their judgements.
func Merge(opts Options, reports ...Report) Report {
	g := NewAggregator(nil, opts)
	for _, r := range reports {
		g.mirrored += r.Mirrored
		g.dropped += r.Dropped
		for _, er := range r.Endpoints {
			e := g.endpoint(er.Endpoint)
			e.comparisons += er.Comparisons
			e.noiseComparisons += er.NoiseComparisons
			e.judged += er.Judged
			e.differing += er.Differing
			for _, fr := range er.Fields {
				f := e.field(fr.Field)
				f.candidate += fr.CandidateDiffs
				f.counted += fr.Counted
				f.noise += fr.NoiseDiffs
				for _, ex := range fr.Examples {
					if len(f.examples) < MaxExamples {
						f.examples = append(f.examples, ex)
					}
				}
			}
		}
	}
	return g.Report()
}
