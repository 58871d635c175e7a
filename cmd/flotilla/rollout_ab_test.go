package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

func abRolloutState() *api.Rollout {
	now := time.Now()
	return &api.Rollout{
		Namespace: "default", Service: "web", Strategy: api.RolloutAB, Phase: api.PhaseProgressing,
		Revision: 2, StableRevision: 1, Step: 1, Steps: 2, Weights: map[int]int{1: 50, 2: 50},
		Reason: "A/B experiment: inconclusive: ...", StartTime: now.Add(-time.Minute), StepTime: now.Add(-50 * time.Second),
		AB: &api.ABState{Salt: "5d3c", Goal: "response header X-Conversion", AutoPromote: true, LooksDone: 1,
			Last: &api.ABAnalysis{
				Time: now.Add(-3 * time.Second), Verdict: "inconclusive", Message: "look 1 found no significant difference; look 2 is due at 1466 visitors per variant",
				A:          api.ABVariantFigures{Revision: 1, Visitors: 1987, Conversions: 201, Rate: api.ABEstimate{Value: 0.1012, Low: 0.0886, High: 0.1153}},
				B:          api.ABVariantFigures{Revision: 2, Visitors: 2013, Conversions: 226, Rate: api.ABEstimate{Value: 0.1123, Low: 0.0991, High: 0.1270}},
				Difference: api.ABEstimate{Value: 0.0111, Low: -0.008, High: 0.030},
				Lift:       &api.ABEstimate{Value: 0.11, Low: -0.07, High: 0.32},
				PValue:     0.25, MinSample: 733, LooksDone: 1, NextLook: 1466,
			}},
	}
}

// rollout status shows the experiment's table: per variant visitors,
// conversions and rate with its interval; lift, p, minimum sample, looks
// and verdict.
func TestRolloutStatusShowsTheABTable(t *testing.T) {
	f := newFakeRolloutAPI(t, abRolloutState())
	out, err := runRolloutCLI(t, f, "rollout", "status", "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"A/B experiment (goal: response header X-Conversion, autoPromote), analysed at",
		"VARIANT", "VISITORS", "CONVERTED", "RATE",
		"A: revision 1", "1987", "201", "10.12% [8.86%, 11.53%]",
		"B: revision 2", "2013", "226", "11.23% [9.91%, 12.70%]",
		"Lift:        +11.0% [-7.0%, +32.0%]; difference +1.11 points [-0.80, +3.00]",
		"p-value:     0.25",
		"Min sample:  733 visitors per variant",
		"Looks:       1 of 3 done; the next at 1466 visitors per variant",
		"Verdict:     inconclusive: look 1 found no significant difference",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// describe shows it too.
	won := abRolloutState()
	won.Phase = api.PhasePaused
	won.AB.Verdict, won.AB.Last.Verdict, won.AB.Last.Look, won.AB.Last.Alpha = "B wins", "B wins", 2, 0.005
	var b strings.Builder
	printRolloutSection(&b, won, "")
	for _, want := range []string{"  A/B experiment (goal", "    A: revision 1", "  Verdict:     B wins\n", "(tested at look 2, level 0.005)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "the next at") {
		t.Errorf("a decided experiment shows a next look:\n%s", b.String())
	}
}

func TestRolloutStatusJSONHasTheABFigures(t *testing.T) {
	out, err := runRolloutCLI(t, newFakeRolloutAPI(t, abRolloutState()), "rollout", "status", "web", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got api.Rollout
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.AB == nil || got.AB.Last == nil || got.AB.Last.B.Visitors != 2013 || got.AB.Last.MinSample != 733 || got.AB.LooksDone != 1 {
		t.Fatalf("A/B figures missing from %s", out)
	}
}
