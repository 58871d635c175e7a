package scenario

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/text"
)

// Reporter shows a run as it happens. Its methods may be called from
// several goroutines (events arrive while a step waits).
type Reporter interface {
	Start(StartReport)
	Step(StepReport)
	Event(at time.Duration, e *api.Event)
	End(EndReport)
}

// StartReport introduces a run.
type StartReport struct {
	Scenario string `json:"scenario"`
	Title    string `json:"title"`
	Teaches  string `json:"teaches"`
	// Cluster says what the run plays on ("lab node-loss: 3 servers, ...").
	Cluster string `json:"cluster"`
	Steps   int    `json:"steps"`
}

// StepReport is one step done. At is the cluster time (since the run
// began) when it ended, Took how long it took.
type StepReport struct {
	Index int           `json:"index"` // from 1
	Of    int           `json:"of"`
	Kind  string        `json:"kind"`
	At    time.Duration `json:"-"`
	Took  time.Duration `json:"-"`
	// Text is what happened: the narration, what was applied or injected,
	// what a check saw.
	Text string `json:"text"`
	// Check is set for steps that check something (wait, expect, a load
	// stop with expectations); OK says whether it held.
	Check   bool           `json:"check,omitempty"`
	OK      bool           `json:"ok"`
	Figures map[string]any `json:"figures,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// EndReport closes a run.
type EndReport struct {
	Scenario string        `json:"scenario"`
	Passed   bool          `json:"passed"`
	Steps    int           `json:"steps"` // steps done
	Of       int           `json:"of"`
	Elapsed  time.Duration `json:"-"`
	// Failure is the step that failed, or why the run stopped.
	Failure string `json:"failure,omitempty"`
}

// TextReporter prints a run for people: one line per step and per event,
// in colour on a terminal.
type TextReporter struct {
	W      io.Writer
	Colour bool
	mu     sync.Mutex
}

// ANSI styles.
const (
	styleReset   = "\033[0m"
	styleBold    = "\033[1m"
	styleDim     = "\033[2m"
	styleRed     = "\033[31m"
	styleGreen   = "\033[32m"
	styleYellow  = "\033[33m"
	styleMagenta = "\033[35m"
	styleCyan    = "\033[36m"
)

func (t *TextReporter) style(s, style string) string {
	if !t.Colour || s == "" {
		return s
	}
	return style + s + styleReset
}

func (t *TextReporter) Start(s StartReport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.W, "%s %s\n", t.style(s.Scenario+":", styleBold), t.style(s.Title, styleBold))
	for _, line := range wrap(s.Teaches, textWidth-2) {
		fmt.Fprintf(t.W, "  %s\n", line)
	}
	fmt.Fprintf(t.W, "  %s\n\n", t.style(s.Cluster, styleDim))
}

// stamp is the time column: cluster time since the run began.
func (t *TextReporter) stamp(at time.Duration) string {
	return t.style(fmt.Sprintf("%7.1fs", at.Seconds()), styleDim)
}

func (t *TextReporter) Step(s StepReport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kindStyle := styleBold
	switch s.Kind {
	case KindSay:
		kindStyle = styleCyan
	case KindFault:
		kindStyle = styleYellow
	}
	head := fmt.Sprintf("%s  %s %s ", t.stamp(s.At), t.style(fmt.Sprintf("%2d/%-2d", s.Index, s.Of), styleDim), t.style(fmt.Sprintf("%-7s", s.Kind), kindStyle))
	text := s.Text
	switch {
	case s.Error != "":
		text = t.style("✗ "+s.Error, styleRed)
	case s.Check:
		text = t.style("✓", styleGreen) + " " + text
	case s.Kind == KindSay:
		text = strings.Join(wrap(text, textWidth-stepIndent), "\n")
	}
	took := ""
	if s.Took >= 100*time.Millisecond && (s.Kind == KindWait || s.Kind == KindFault || s.Kind == KindSleep) {
		took = t.style(fmt.Sprintf("  (%.1fs)", s.Took.Seconds()), styleDim)
	}
	// Narration and a check's detail keep their own lines, under the
	// first.
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	first := lines[0]
	if s.Kind == KindSay {
		first = t.style(first, styleCyan)
	}
	fmt.Fprintf(t.W, "%s%s%s\n", head, first, took)
	for _, l := range lines[1:] {
		fmt.Fprintf(t.W, "%s%s\n", strings.Repeat(" ", stepIndent), t.style(l, styleCyan))
	}
}

// The text reporter's layout: lines of narration are wrapped at
// textWidth, and a step's text starts at column stepIndent.
const (
	textWidth  = 100
	stepIndent = 8 + 2 + 5 + 1 + 7 + 1
)

// wrap breaks text into lines of at most width (a longer word keeps a
// line of its own); the line breaks of the text stay.
func wrap(text string, width int) []string {
	var out []string
	for _, para := range strings.Split(strings.TrimSpace(text), "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			switch {
			case line == "":
				line = word
			case len(line)+1+len(word) > width:
				out = append(out, line)
				line = word
			default:
				line += " " + word
			}
		}
		out = append(out, line)
	}
	return out
}

func (t *TextReporter) Event(at time.Duration, e *api.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.W, "%s        %s %s\n", t.stamp(at), t.style("event  ", styleMagenta), t.style(e.Type+": "+e.Message, styleMagenta))
}

func (t *TextReporter) End(e EndReport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.Passed {
		fmt.Fprintf(t.W, "\n%s %s: %s in %.1fs\n", t.style("PASS", styleGreen+styleBold), e.Scenario, text.Count(e.Steps, "step"), e.Elapsed.Seconds())
		return
	}
	fmt.Fprintf(t.W, "\n%s %s after %.1fs, at step %d of %d: %s\n", t.style("FAIL", styleRed+styleBold), e.Scenario, e.Elapsed.Seconds(), e.Steps, e.Of, e.Failure)
}

// JSONReporter prints one JSON object per line: {"type": "start"|"step"|
// "event"|"end", ...}; times are seconds of cluster time.
type JSONReporter struct {
	W  io.Writer
	mu sync.Mutex
}

func (j *JSONReporter) line(v any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"type": "error", "error": err.Error()})
	}
	j.W.Write(append(b, '\n'))
}

func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func (j *JSONReporter) Start(s StartReport) {
	j.line(struct {
		Type string `json:"type"`
		StartReport
	}{"start", s})
}

func (j *JSONReporter) Step(s StepReport) {
	j.line(struct {
		Type string  `json:"type"`
		At   float64 `json:"at"`
		Took float64 `json:"took"`
		StepReport
	}{"step", seconds(s.At), seconds(s.Took), s})
}

func (j *JSONReporter) Event(at time.Duration, e *api.Event) {
	j.line(struct {
		Type  string     `json:"type"`
		At    float64    `json:"at"`
		Event *api.Event `json:"event"`
	}{"event", seconds(at), e})
}

func (j *JSONReporter) End(e EndReport) {
	j.line(struct {
		Type    string  `json:"type"`
		Elapsed float64 `json:"elapsed"`
		EndReport
	}{"end", seconds(e.Elapsed), e})
}
