package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	goruntime "runtime"
	"runtime/debug"

	"flotilla/internal/bubble"
	"flotilla/scenarios/scenario"
	"flotilla/scenarios/virtual"
)

// runVirtual plays a scenario in virtual time: its lab runs in this
// process on a simulated network inside a synctest bubble, where cluster
// time jumps ahead whenever everything waits (docs/VIRTUAL-TIME.md). The
// process ends inside the bubble: its exit status is the run's.
func runVirtual(ctx context.Context, o *scenarioRunOptions, sc *scenario.Scenario, report scenario.Reporter, stderr io.Writer) error {
	if o.keep {
		return errors.New("--keep: a virtual lab lives in this process and ends with the run")
	}
	// hashicorp/raft and memberlist draw from math/rand's global source:
	// seed it (the binary's //go:debug randseednop=0 lets Seed work).
	rand.Seed(int64(o.seed)) //nolint:staticcheck // the point is a seeded global source
	// One processor: goroutines that wake at the same virtual instant
	// then run one after the other, in an order that varies far less
	// than in parallel.
	if os.Getenv("GOMAXPROCS") == "" {
		goruntime.GOMAXPROCS(1)
	}
	// The whole cluster's heap is a few tens of megabytes: collecting it
	// a quarter as often saves a fifth of the CPU of a long run.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	var log io.Writer
	if o.log != "" {
		f, err := os.Create(o.log)
		if err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		defer f.Close()
		log = f
	}
	dir, err := os.MkdirTemp("", "flotilla-virtual-")
	if err != nil {
		return err
	}
	// Nothing in the bubble watches ctx (a channel from outside it would
	// stop its clock): an interrupt ends the process from out here.
	go func() {
		<-ctx.Done()
		fmt.Fprintln(stderr, "interrupted")
		os.RemoveAll(dir)
		os.Exit(130)
	}()
	code := 0
	err = bubble.Run(func() {
		defer removeOnPanic(dir)
		err := virtual.Play(sc, virtual.Options{Report: scenario.StableIDs(report), Log: log, Dir: dir, Seed: o.seed})
		if err != nil {
			// Every error, as a live run says it (main): a step that
			// failed, and one refused before the run began, which
			// the report has not shown.
			fmt.Fprintln(stderr, "error: "+oneLine(err))
			code = 1
		}
		// Goroutines a library left behind would be a deadlock to the
		// bubble: the run is over, so end here.
		os.RemoveAll(dir)
		os.Exit(code)
	})
	os.RemoveAll(dir)
	return err
}

// removeOnPanic, deferred, removes a virtual run's directory when the run
// panics, and panics on: the process ends with the panic's report, and
// without a deferred call of the caller's.
func removeOnPanic(dir string) {
	if p := recover(); p != nil {
		os.RemoveAll(dir)
		panic(p)
	}
}
