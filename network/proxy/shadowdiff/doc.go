// Package shadowdiff compares the answers of a shadow rollout and learns
// which differences are noise, as Twitter's Diffy does.
//
// A shadow rollout mirrors a share of live requests to the candidate
// revision; the client only ever gets the stable revision's answer (the
// primary). Comparer lists how two answers differ, field by field, as
// paths: "status", "header.X-Foo", "body" (a non-JSON body), or a JSON
// field such as "body.items[2].price". Some fields differ between any two
// answers, even of the same revision: timestamps, hostnames, random IDs.
// To tell those from real changes a share of the mirrored requests also
// goes to a second stable replica (the baseline), and the differences
// between primary and baseline are counted per field as noise:
//
//	request ──► primary (stable, to the client) ──┬─ Compare ─► candidate diffs  ┐
//	        ──► candidate (new revision)  ────────┘                              ├─► Aggregator
//	        ──► baseline (another stable replica, ─┬─ Compare ─► noise diffs     ┘   per endpoint,
//	            a share of requests only) ─────────┘  (with primary)                 per field
//
// The rule (Aggregator, Options): figures are kept per endpoint ("GET
// /items", the query left out) and per field, array indexes folded
// ("body.items[*].price"). An endpoint's noise is trusted once it has
// MinNoiseComparisons baseline comparisons; until then its comparisons are
// recorded but not judged. A field F is noise when the baseline differs
// from the primary on F in at least NoiseThreshold of the endpoint's
// noise comparisons, unless the candidate differs on F more often than
// that noise rate plus NoiseMargin (then F changed for real, over its
// noise). A comparison counts against the candidate ("differs") when it
// has a difference on a field that is not noise; it is judged when it is
// recorded, with what was learned up to then. The diff rate is differing
// over judged comparisons: what a shadow rollout's maxDiffRate gates on.
//
// The baseline must be a different replica than the one that gave the
// primary answer (the same one would not differ in hostname), and without
// any second stable replica Options.NoBaseline judges every comparison at
// once with no noise: then only IgnoreHeaders and IgnoreJSONFields keep
// noisy fields out.
//
// The package owns the comparison, the noise rule and the figures, which
// merge across proxies (Merge); their shape is the API's (api.DiffReport,
// which Report aliases), as is the syntax of ignoreJSONFields
// (api.ParseJSONFieldPath), so that a spec is checked when it is applied.
// It does no I/O: the proxy captures the answers and sends the copies, the
// leader merges the proxies' reports (scheduler/shadow.go); it must not
// import either.
package shadowdiff
