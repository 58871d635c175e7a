package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A shadow rollout's comparison figures: what each proxy's differ counted
// (network/proxy/shadowdiff, which owns the rule), what the leader merges
// from every proxy, and what `flotilla rollout diffs` shows.

// DiffReport is the figures of the answers a shadow rollout compared: per
// endpoint ("GET /items"), per field path ("body.items[*].price").
type DiffReport struct {
	// Mirrored counts the copies sent to the candidate revision; Dropped
	// the requests not mirrored because too many copies were in flight.
	Mirrored uint64 `json:"mirrored"`
	Dropped  uint64 `json:"dropped,omitempty"`
	// Comparisons: candidate answers compared with the primary (the
	// stable answer the client got); Judged of them were recorded with
	// their endpoint's noise trusted; Differing of those had a difference
	// that is not noise. DiffRate is Differing / Judged: what
	// analysis.maxDiffRate gates on.
	Comparisons int64   `json:"comparisons"`
	Judged      int64   `json:"judged"`
	Differing   int64   `json:"differing"`
	DiffRate    float64 `json:"diffRate"`
	// NoiseComparisons: baseline answers (a second stable replica's)
	// compared with the primary.
	NoiseComparisons int64          `json:"noiseComparisons"`
	Endpoints        []DiffEndpoint `json:"endpoints"`
}

// DiffEndpoint is one endpoint's figures, as DiffReport's.
type DiffEndpoint struct {
	Endpoint         string  `json:"endpoint"` // "GET /items"
	Comparisons      int64   `json:"comparisons"`
	Judged           int64   `json:"judged"`
	Differing        int64   `json:"differing"`
	DiffRate         float64 `json:"diffRate"`
	NoiseComparisons int64   `json:"noiseComparisons"`
	// Learning: fewer noise comparisons than the rule needs; the
	// endpoint's comparisons are not judged yet.
	Learning bool        `json:"learning,omitempty"`
	Fields   []DiffField `json:"fields"`
}

// DiffField is one field's figures: those that count against the
// candidate first.
type DiffField struct {
	Field string `json:"field"` // "body.items[*].price"
	// CandidateDiffs: comparisons where the candidate differed here;
	// Counted: those of them judged not noise; NoiseDiffs: noise
	// comparisons where the baseline differed here.
	CandidateDiffs int64 `json:"candidateDiffs"`
	Counted        int64 `json:"counted"`
	NoiseDiffs     int64 `json:"noiseDiffs"`
	// CandidateRate is CandidateDiffs / the endpoint's comparisons,
	// NoiseRate NoiseDiffs / its noise comparisons, DiffRate Counted / its
	// judged comparisons (the candidate's rate without the noise).
	CandidateRate float64 `json:"candidateRate"`
	NoiseRate     float64 `json:"noiseRate"`
	DiffRate      float64 `json:"diffRate"`
	// Noise: the field is noise now, by the rule.
	Noise    bool          `json:"noise"`
	Examples []DiffExample `json:"examples,omitempty"`
}

// DiffExample is one recorded candidate difference.
type DiffExample struct {
	Request   string `json:"request"` // "GET /items?page=2"
	Path      string `json:"path"`    // "body.items[2].price"
	Kind      string `json:"kind"`
	Stable    string `json:"stable"`
	Candidate string `json:"candidate"`
}

// RolloutDiffs is the answer of GET /v1/services/{ns}/{name}/rollout/diffs:
// a shadow rollout's figures merged over every proxy that reported them.
type RolloutDiffs struct {
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	// Revision is the candidate, StableRevision the revision whose
	// answers the clients got.
	Revision       int    `json:"revision"`
	StableRevision int    `json:"stableRevision"`
	Phase          string `json:"phase"`
	// Baseline is the share of mirrored requests also sent to a second
	// stable replica to learn noise; 0 learns none.
	Baseline Percent `json:"baseline"`
	// Nodes counts the proxies whose figures are in Report; Updated is
	// when the newest of them arrived.
	Nodes   int        `json:"nodes"`
	Updated time.Time  `json:"updated,omitzero"`
	Report  DiffReport `json:"report"`
}

// ShadowStatus is a shadow rollout's comparison figures as the rollout
// state keeps them (in Raft): taken at each analysis, or every
// ShadowRefresh without one. `rollout status` shows it.
type ShadowStatus struct {
	Time             time.Time `json:"time,omitzero"`
	Mirrored         uint64    `json:"mirrored"`
	Dropped          uint64    `json:"dropped,omitempty"`
	Comparisons      int64     `json:"comparisons"`
	NoiseComparisons int64     `json:"noiseComparisons"`
	Judged           int64     `json:"judged"`
	Differing        int64     `json:"differing"`
	DiffRate         float64   `json:"diffRate"`
	// Learning: some endpoint's noise is not trusted yet, so its
	// comparisons are not judged.
	Learning bool `json:"learning,omitempty"`
	// NoiseFields are fields learned as noise (at most MaxShadowFields);
	// DiffFields those that count against the candidate, most first.
	NoiseFields []string          `json:"noiseFields,omitempty"`
	DiffFields  []ShadowFieldDiff `json:"diffFields,omitempty"`
}

// ShadowFieldDiff is one field that counts against the candidate.
type ShadowFieldDiff struct {
	Field    string  `json:"field"` // "GET / body.version"
	Counted  int64   `json:"counted"`
	DiffRate float64 `json:"diffRate"`
}

// MaxShadowFields bounds the fields a ShadowStatus lists of each kind.
const MaxShadowFields = 8

// ShadowRefresh is how often a shadow rollout without analysis takes its
// figures into its state.
const ShadowRefresh = 10 * time.Second

// DefaultShadowMethods are the methods a shadow rollout mirrors unless
// rollout.shadow.methods says otherwise: those without side effects.
var DefaultShadowMethods = []string{"GET", "HEAD", "OPTIONS"}

// MirrorsMethod reports whether a request of method is mirrored, given a
// methods list (empty: DefaultShadowMethods). Methods compare exactly, as
// HTTP's do.
func MirrorsMethod(methods []string, method string) bool {
	if len(methods) == 0 {
		methods = DefaultShadowMethods
	}
	for _, m := range methods {
		if m == method {
			return true
		}
	}
	return false
}

// JSONFieldStep is one step of an ignoreJSONFields path: an object key,
// an array index, or any index ([*]).
type JSONFieldStep struct {
	Key      string
	IsIndex  bool
	AnyIndex bool
	Index    int
}

// ParseJSONFieldPath reads an ignoreJSONFields entry: "meta.time",
// "items[*].price", "items[0]", "[*].id" (a top-level array): keys
// separated by dots, each followed by any number of [N] or [*] ([] is [*]
// too); a key may be left out only before an index. A plain name
// ("time") is one step, which shadow comparisons ignore wherever it is a
// key.
func ParseJSONFieldPath(s string) ([]JSONFieldStep, error) {
	var out []JSONFieldStep
	for i, part := range strings.Split(s, ".") {
		key, rest, indexed := strings.Cut(part, "[")
		if indexed {
			rest = "[" + rest
		}
		switch {
		case key == "" && rest == "":
			return nil, fmt.Errorf("empty name in the path")
		case key == "" && i > 0:
			return nil, fmt.Errorf("an index must follow a name after a dot")
		case strings.ContainsAny(key, "]"):
			return nil, fmt.Errorf("%q is not a name", key)
		}
		if key != "" {
			out = append(out, JSONFieldStep{Key: key})
		}
		for rest != "" {
			end := strings.IndexByte(rest, ']')
			if !strings.HasPrefix(rest, "[") || end < 0 {
				return nil, fmt.Errorf("want [N] or [*] in %q", part)
			}
			switch idx := rest[1:end]; idx {
			case "*", "":
				out = append(out, JSONFieldStep{IsIndex: true, AnyIndex: true})
			default:
				n, err := strconv.Atoi(idx)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("index %q is neither a number nor *", idx)
				}
				out = append(out, JSONFieldStep{IsIndex: true, Index: n})
			}
			rest = rest[end+1:]
		}
	}
	return out, nil
}
