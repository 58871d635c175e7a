package rollout

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// abWorld is a world whose proxies report A/B visitors: per revision, a
// number of visitors and how many of them converted.
type abWorld struct {
	*world
	visitors   map[int][2]int // revision -> visitors, converted
	incomplete bool           // the leader lacks some proxy's figures
}

// abBlock is the rollout block, and the HTTP port an A/B service needs.
const abBlock = "{strategy: ab, ab: {split: 50%%, goal: {header: X-Conversion}, minSample: %d, autoPromote: %t, interval: 10s}}\n" + httpPort

const httpPort = "ports: [{name: http, port: 80, protocol: http}]"

func newABWorld(t *testing.T, replicas, minSample int, autoPromote bool) *abWorld {
	w := &abWorld{world: newWorld(t, replicas, fmt.Sprintf(abBlock, minSample, autoPromote)), visitors: map[int][2]int{}}
	w.update()
	return w
}

// users reports n visitors of revision rev, converted of whom converted.
func (w *abWorld) users(rev, n, converted int) { w.visitors[rev] = [2]int{n, converted} }

func (w *abWorld) sketches(salt string) (map[int]*ABVisitors, bool) {
	if w.ro.AB == nil || salt != w.ro.AB.Salt {
		w.t.Fatalf("asked for salt %q, the experiment's is %+v", salt, w.ro.AB)
	}
	out := map[int]*ABVisitors{}
	for rev, v := range w.visitors {
		s := &ABVisitors{}
		for i := range v[0] {
			h := uint64(rev)<<40 | uint64(i)
			s.Visitors.Add(h)
			if i < v[1] {
				s.Converted.Add(h)
			}
		}
		out[rev] = s
	}
	return out, !w.incomplete
}

func (w *abWorld) decide() Decision {
	w.t.Helper()
	d := Decide(Input{Service: w.svc, Rollout: w.ro, Allocs: w.allocs, Now: w.now, ABVisitors: w.sketches})
	w.ro = d.Rollout
	w.events = append(w.events, d.Events...)
	w.apply(d.Desired)
	w.last = d
	return d
}

// start runs the rollout until the experiment is on.
func (w *abWorld) start() {
	w.t.Helper()
	w.decide()
	w.readyAll(2)
	w.decide()
	if w.ro.StepTime.IsZero() {
		w.t.Fatalf("the experiment did not start: %s", w.ro.Reason)
	}
}

// analyse moves to the next analysis and decides.
func (w *abWorld) analyse() {
	w.t.Helper()
	w.advance(10 * time.Second)
	w.decide()
}

func (w *abWorld) event(typ string) string {
	for i := len(w.events) - 1; i >= 0; i-- {
		if w.events[i].Type == typ {
			return w.events[i].Message
		}
	}
	w.t.Fatalf("no %s event in %v", typ, w.eventTypes())
	return ""
}

// B first scales to its share while A keeps every replica; once B is
// ready the experiment starts: users split by the route table, A scaled
// to its share.
func TestABScalesBothVariantsThenSplitsUsers(t *testing.T) {
	w := newABWorld(t, 4, 500, true)
	w.decide()
	w.wantRunning(1, 4)
	w.wantRunning(2, 2)
	if !w.ro.StepTime.IsZero() || Routes(w.svc, w.ro).AB != nil {
		t.Fatal("the experiment started before B was ready")
	}
	w.readyAll(2)
	w.decide()
	w.wantRunning(1, 2)
	w.wantRunning(2, 2)
	w.wantWeights(map[int]int{1: 50, 2: 50})
	rt := Routes(w.svc, w.ro)
	if rt.AB == nil || rt.AB.Salt != w.ro.AB.Salt || rt.AB.A != 1 || rt.AB.B != 2 || rt.AB.Split != 50 || rt.AB.Cookie != "flotilla-ab-web" || rt.AB.Goal.Header != "X-Conversion" {
		t.Fatalf("route table %+v", rt.AB)
	}
	if msg := w.event(api.EventRolloutStep); !strings.Contains(msg, "50% of users get revision 2 (2 replicas), the others revision 1 (2 replicas); goal: response header X-Conversion") {
		t.Errorf("step event %q", msg)
	}
	if w.ro.Step != 1 || w.ro.Steps != 2 || w.ro.RecheckAt != w.now.Add(10*time.Second) {
		t.Errorf("step %d/%d, recheck at %v; want 1/2 and the first analysis in 10s", w.ro.Step, w.ro.Steps, w.ro.RecheckAt)
	}
}

// Rules: a matching request goes to B, in the route table's rules.
func TestABRulesGoToTheRouteTable(t *testing.T) {
	w := &abWorld{world: newWorld(t, 3, "{strategy: ab, ab: {match: [{header: {name: X-Group, exact: beta}}], goal: {path: /checkout, method: POST}}}\n"+httpPort), visitors: map[int][2]int{}}
	w.update()
	w.start()
	rt := Routes(w.svc, w.ro)
	if len(rt.Rules) != 1 || rt.Rules[0].Backend != 2 || rt.AB == nil || rt.AB.Split != 0 {
		t.Fatalf("route table %+v, want the rule to revision 2 and no split of users", rt)
	}
	w.wantWeights(map[int]int{1: 100, 2: 0})
	w.wantRunning(2, 2) // half of 3, rounded up
	w.wantRunning(1, 1)
}

func TestABBWinsAndIsPromoted(t *testing.T) {
	w := newABWorld(t, 4, 500, true)
	w.start()
	w.users(1, 600, 60)
	w.users(2, 600, 105)
	w.analyse()
	w.wantPhase(api.PhaseProgressing) // promoting: B scales up
	w.wantRunning(2, 4)
	if w.ro.AB.Verdict != string(ABWinnerB) || w.ro.AB.LooksDone != 1 || w.ro.PromoteTime.IsZero() {
		t.Fatalf("AB state %+v, want B to have won at look 1 and been promoted", w.ro.AB)
	}
	// The counts are HyperLogLog estimates: within a few of the truth.
	verdict := w.event(EventABVerdict)
	want := `^A/B default/web: B wins: conversion B 17\.\d% \[1\d\.\d, 2\d\.\d\] vs A (9\.\d|10\.\d)% \[\d+\.\d, 1\d\.\d\], lift \+7\d% \[\+\d+, \+\d+\], p=0\.000\d+, n=(59\d|60\d)/(59\d|60\d) \(B/A\)$`
	if !regexp.MustCompile(want).MatchString(verdict) {
		t.Errorf("verdict event %q does not match %s", verdict, want)
	}
	w.readyAll(2)
	w.decide()
	w.wantPhase(api.PhaseCompleted)
	w.wantRunning(1, 0)
	w.wantWeights(map[int]int{2: 100})
	if Routes(w.svc, w.ro).AB != nil {
		t.Error("a completed rollout still splits users")
	}
}

func TestABAWinsEndsWithA(t *testing.T) {
	w := newABWorld(t, 4, 500, true)
	w.start()
	w.users(1, 600, 105)
	w.users(2, 600, 60)
	w.analyse()
	w.wantPhase(api.PhaseAborted)
	w.wantRunning(2, 0)
	w.wantRunning(1, 4)
	w.wantWeights(map[int]int{1: 100})
	if msg := w.event(api.EventRolloutAborted); !strings.Contains(msg, "A wins: conversion B ") || !strings.Contains(msg, "revision 2 stopped, revision 1 keeps all traffic") {
		t.Errorf("abort event %q", msg)
	}
}

// Without autoPromote a verdict waits for a person, who decides.
func TestABVerdictWaitsForAPersonWithoutAutoPromote(t *testing.T) {
	w := newABWorld(t, 4, 500, false)
	w.start()
	w.users(1, 600, 60)
	w.users(2, 600, 105)
	w.analyse()
	w.wantPhase(api.PhasePaused)
	w.wantRunning(1, 2)
	w.wantRunning(2, 2)
	if !strings.Contains(w.ro.Reason, "B wins") || !strings.Contains(w.ro.Reason, "`flotilla rollout promote web`") {
		t.Fatalf("reason %q, want the verdict and what a person can do", w.ro.Reason)
	}
	paused := len(w.events)
	w.analyse()
	if len(w.events) != paused || w.ro.AB.LooksDone != 1 {
		t.Fatalf("a decided experiment went on: events %v, looks %d", w.eventTypes()[paused:], w.ro.AB.LooksDone)
	}
	w.ro.Promote = true // rollout promote
	w.decide()
	w.readyAll(2)
	w.decide()
	w.wantPhase(api.PhaseCompleted)
}

// After the last look without a significant difference, a person decides,
// even with autoPromote.
func TestABNoWinnerWaitsForAPerson(t *testing.T) {
	w := newABWorld(t, 4, 500, true)
	w.start()
	w.users(1, 2100, 210)
	w.users(2, 2100, 215)
	w.analyse()
	w.wantPhase(api.PhasePaused)
	if w.ro.AB.Verdict != string(ABNoWinner) || w.ro.AB.LooksDone != 3 {
		t.Fatalf("AB state %+v, want no winner after all three looks", w.ro.AB)
	}
	if msg := w.event(api.EventRolloutPaused); !strings.Contains(msg, "no winner") {
		t.Errorf("paused event %q", msg)
	}
}

// No verdict before the minimum sample, however clear the figures.
func TestABNoVerdictBeforeTheMinimumSample(t *testing.T) {
	w := newABWorld(t, 4, 500, true)
	w.start()
	w.users(1, 400, 10)
	w.users(2, 400, 200)
	w.analyse()
	if w.ro.AB.Verdict != "" || w.ro.AB.LooksDone != 0 || w.ro.AB.Last == nil || w.ro.AB.Last.MinSample != 500 {
		t.Fatalf("AB state %+v, want no verdict below 500 visitors per variant", w.ro.AB)
	}
	w.wantPhase(api.PhaseProgressing)
}

// A look tested once is not tested again: LooksDone is in the rollout
// state.
func TestABTestsALookOnce(t *testing.T) {
	w := newABWorld(t, 4, 500, true)
	w.start()
	w.users(1, 520, 52)
	w.users(2, 520, 57)
	w.analyse()
	if w.ro.AB.Verdict != "" || w.ro.AB.LooksDone != 1 || w.ro.AB.Last.Look != 1 {
		t.Fatalf("AB state %+v (%+v), want look 1 tested, no verdict", w.ro.AB, w.ro.AB.Last)
	}
	// The same figures again: look 2 is not due, look 1 is done.
	w.analyse()
	if w.ro.AB.LooksDone != 1 || w.ro.AB.Last.Look != 0 || !strings.Contains(w.ro.AB.Last.Message, "look 2 is due at 1000") {
		t.Fatalf("second analysis %+v, want no look", w.ro.AB.Last)
	}
	w.wantPhase(api.PhaseProgressing)
}

// A leader without every proxy's figures does not analyse; when they are
// in, the counts start from the stored sketches, so they never go back.
func TestABWaitsForCompleteFiguresAndCountsNeverGoBack(t *testing.T) {
	w := newABWorld(t, 4, 500, true)
	w.start()
	w.users(1, 300, 30)
	w.users(2, 300, 31)
	w.analyse()
	stored := w.ro.AB.Last
	if stored == nil || stored.A.Visitors < 295 || len(w.ro.AB.Sketches) != 2 {
		t.Fatalf("first analysis %+v, sketches %d", stored, len(w.ro.AB.Sketches))
	}
	// A new leader: only part of the proxies have reported.
	w.incomplete = true
	w.users(1, 100, 5)
	w.users(2, 100, 5)
	w.analyse()
	if w.ro.AB.Last != stored || w.ro.RecheckAt != w.now.Add(time.Second) || !strings.Contains(w.ro.Reason, "waiting for every proxy") {
		t.Fatalf("analysed on part of the figures: %+v, recheck %v, reason %q", w.ro.AB.Last, w.ro.RecheckAt, w.ro.Reason)
	}
	w.incomplete = false
	w.advance(time.Second)
	w.decide()
	if got := w.ro.AB.Last; got == stored || got.A.Visitors < stored.A.Visitors || got.B.Conversions < stored.B.Conversions {
		t.Fatalf("after the leader change %+v, before %+v: the counts went back", got, stored)
	}
}

// The salt is the same for the same rollout wherever it is computed, and
// another for another rollout.
func TestABSaltIsDeterministicPerRollout(t *testing.T) {
	spec := mustSpec(t, "rollout: {strategy: ab, ab: {goal: {header: X-Conversion}}}\n"+httpPort+"\n")
	svc := &api.Service{Name: "web", Namespace: "default", Revision: 2, Replicas: 2, Spec: spec, CreateIndex: 7}
	prev := &api.Rollout{Revision: 1, StableRevision: 1, Phase: api.PhaseCompleted}
	one, two := New(svc, prev, epoch), New(svc, prev, epoch)
	if one.AB == nil || one.AB.Salt == "" || one.AB.Salt != two.AB.Salt || one.AB.Goal != "response header X-Conversion" {
		t.Fatalf("AB states %+v and %+v", one.AB, two.AB)
	}
	svc.Revision = 3
	if three := New(svc, prev, epoch.Add(time.Second)); three.AB.Salt == one.AB.Salt {
		t.Fatal("two rollouts share a salt")
	}
}

func TestABReplicasFollowTheSplit(t *testing.T) {
	for _, tc := range []struct {
		share          float64
		replicas, a, b int
	}{{0.5, 6, 3, 3}, {0.1, 10, 9, 1}, {0.1, 3, 2, 1}, {0.5, 1, 1, 1}, {0.9, 4, 1, 4}, {0.25, 8, 6, 2}} {
		if a, b := abReplicas(tc.share, tc.replicas); a != tc.a || b != tc.b {
			t.Errorf("share %g of %d: A %d B %d, want %d and %d", tc.share, tc.replicas, a, b, tc.a, tc.b)
		}
	}
}
