// Package bubble runs a function in a testing/synctest bubble from an
// ordinary program: the bubble's goroutines see a fake clock that jumps
// ahead whenever all of them are durably blocked, which is how `flotilla
// scenario run --virtual` lets an hour of cluster time pass in seconds
// (docs/VIRTUAL-TIME.md).
//
// synctest.Test needs a *testing.T, which only the testing package makes:
// Run starts the testing package's main loop (testing.MainStart) with one
// test that opens the bubble. testing.MainStart is meant for `go test` and
// may change between Go releases; the module pins its Go version, and the
// package's test fails if a release changes what Run relies on.
package bubble

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// mu makes Run one at a time: the testing package keeps global state.
var mu sync.Mutex

// Run calls f inside a synctest bubble and returns when f and every
// goroutine it started have returned. f must leave nothing running: a
// goroutine still blocked when f returns is a deadlock, and the testing
// package then panics (a program that cannot stop everything can end
// with os.Exit inside f). Run must not be called from a test: the testing
// package's flags and globals belong to that test.
func Run(f func()) error {
	mu.Lock()
	defer mu.Unlock()
	// M.Run parses the command line's test flags unless flags are parsed
	// (give it an empty command line), and prints PASS or FAIL on stdout
	// (give it /dev/null, but f the real one).
	if !flag.Parsed() {
		if err := flag.CommandLine.Parse(nil); err != nil {
			return err
		}
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	stdout := os.Stdout
	defer func() { os.Stdout = stdout }()
	ran := false
	tests := []testing.InternalTest{{Name: "Bubble", F: func(t *testing.T) {
		os.Stdout = stdout
		defer func() { os.Stdout = devnull }()
		synctest.Test(t, func(*testing.T) {
			ran = true
			f()
		})
	}}}
	m := testing.MainStart(deps{}, tests, nil, nil, nil)
	os.Stdout = devnull
	code := m.Run()
	switch {
	case !ran:
		return errors.New("bubble: the testing package did not run the bubble")
	case code != 0:
		return fmt.Errorf("bubble: the run failed (exit code %d)", code)
	}
	return nil
}

// deps is what testing.MainStart needs of `go test`'s generated main:
// nothing here profiles, fuzzes or measures coverage.
type deps struct{}

func (deps) ImportPath() string { return "flotilla/internal/bubble" }
func (deps) ModulePath() string { return "flotilla" }
func (deps) MatchString(pat, str string) (bool, error) {
	return regexp.MatchString(pat, str)
}
func (deps) SetPanicOnExit0(bool)                        {}
func (deps) StartCPUProfile(io.Writer) error             { return errors.New("no profiles") }
func (deps) StopCPUProfile()                             {}
func (deps) StartTestLog(io.Writer)                      {}
func (deps) StopTestLog() error                          { return nil }
func (deps) WriteProfileTo(string, io.Writer, int) error { return errors.New("no profiles") }
func (deps) CheckCorpus([]any, []reflect.Type) error     { return nil }
func (deps) ResetCoverage()                              {}
func (deps) SnapshotCoverage()                           {}
func (deps) RunFuzzWorker(func(corpusEntry) error) error { return errors.New("no fuzzing") }
func (deps) ReadCorpus(string, []reflect.Type) ([]corpusEntry, error) {
	return nil, errors.New("no fuzzing")
}
func (deps) CoordinateFuzzing(time.Duration, int64, time.Duration, int64, int, []corpusEntry, []reflect.Type, string, string) error {
	return errors.New("no fuzzing")
}
func (deps) InitRuntimeCoverage() (string, func(string, string) (string, error), func() float64) {
	return "", nil, nil
}

// corpusEntry is the testing package's fuzz corpus entry (an alias of an
// unnamed struct there, so the same type here).
type corpusEntry = struct {
	Parent     string
	Path       string
	Data       []byte
	Values     []any
	Generation int
	IsSeed     bool
}
