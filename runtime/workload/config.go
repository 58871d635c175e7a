package workload

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/internal/vnet"
)

// The environment variables a runtime sets for the workload.
const (
	EnvNode       = "FLOTILLA_NODE"
	EnvAllocation = "FLOTILLA_ALLOC"
	EnvHostname   = "HOSTNAME"
)

// Defaults of the flags.
const (
	DefaultVersion = "v1"
	DefaultListen  = ":8080"
)

// ErrHelp is what ParseArgs returns for --help / -h; Usage has the text.
var ErrHelp = errors.New("help requested")

// Config is one run of the demo app: its flags, what the environment says
// about where it runs, and the test hooks.
type Config struct {
	Version string // --version (default "v1")
	Listen  string // --listen (default ":8080")
	// ExtraListen are further addresses served by the same handler (the sim
	// runtime listens on every port of the spec). Not a flag.
	ExtraListen []string
	// ErrorRate is the share of GET / answered 500 (--error-rate 0.3 or 30%).
	ErrorRate float64
	// Latency is added to every GET / (--latency).
	Latency Latency
	// ConversionRate is the share of POST /checkout that convert
	// (--conversion-rate 0.12 or 12%): an A/B lab gives each variant its own.
	ConversionRate float64
	// StartupDelay: do not even listen until it has passed.
	StartupDelay time.Duration
	// FailReadinessAfter: /ready turns 503 this long after Run began.
	FailReadinessAfter time.Duration
	// FailLivenessAfter: /healthz turns 500 this long after Run began.
	FailLivenessAfter time.Duration
	// CrashAfter: exit with code 1 this long after Run began.
	CrashAfter time.Duration
	// ShutdownDelay: keep serving this long after being asked to stop (to
	// teach grace periods).
	ShutdownDelay time.Duration
	// CPUPerRequest is the CPU time each GET / costs.
	CPUPerRequest time.Duration
	// Memory the app holds on top of its base (--memory 64Mi).
	Memory int64

	// From the environment: FLOTILLA_NODE, FLOTILLA_ALLOC, and HOSTNAME
	// (else os.Hostname).
	Node, Allocation, Hostname string

	// Simulated: in the sim runtime the app runs inside the agent process, so
	// CPU per request and memory are accounted in a model instead of being
	// burned/allocated for real.
	Simulated bool

	// Clock drives every timer of the app; nil means the wall clock.
	Clock clock.Clock
	// Net is where Run listens; nil means the host's network. The sim
	// runtime passes its own (a simulated one in virtual scenarios).
	Net vnet.Net
	// Rand draws errors, latencies and conversions; nil means a randomly
	// seeded source. Tests seed it.
	Rand rand.Source
}

// flagSet declares the workload's one flag set over cfg.
func flagSet(cfg *Config) *pflag.FlagSet {
	fs := pflag.NewFlagSet("workload", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringVar(&cfg.Version, "version", DefaultVersion, "version to report in GET / (a label, not the binary's)")
	fs.StringVar(&cfg.Listen, "listen", DefaultListen, "address to listen on")
	fs.Var((*rateValue)(&cfg.ErrorRate), "error-rate", "share of GET / answered 500: 0.3 or 30%")
	fs.Var((*rateValue)(&cfg.ConversionRate), "conversion-rate", "share of POST /checkout that convert (answered with "+ConversionHeader+": 1): 0.12 or 12%")
	fs.Var((*latencyValue)(&cfg.Latency), "latency", "delay added to GET /: 100ms (fixed), 50ms..150ms (uniform) or 100ms±20ms (normal; +- works too)")
	fs.DurationVar(&cfg.StartupDelay, "startup-delay", 0, "wait this long before listening")
	fs.DurationVar(&cfg.FailReadinessAfter, "fail-readiness-after", 0, "/ready answers 503 once this has passed (0: never)")
	fs.DurationVar(&cfg.FailLivenessAfter, "fail-liveness-after", 0, "/healthz answers 500 once this has passed (0: never)")
	fs.DurationVar(&cfg.CrashAfter, "crash-after", 0, "exit with code 1 once this has passed (0: never)")
	fs.DurationVar(&cfg.ShutdownDelay, "shutdown-delay", 0, "keep serving this long after being asked to stop")
	fs.DurationVar(&cfg.CPUPerRequest, "cpu-per-request", 0, "CPU time each GET / costs")
	fs.Var((*memoryValue)(&cfg.Memory), "memory", "memory to hold on top of the base, e.g. 64Mi")
	return fs
}

// ParseArgs reads the workload's flags (the one flag set, shared by
// `flotilla workload` and the sim runtime) and its environment. Errors name
// the flag. --help gives ErrHelp.
func ParseArgs(args []string, env map[string]string) (Config, error) {
	var cfg Config
	fs := flagSet(&cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return Config{}, ErrHelp
		}
		return Config{}, err
	}
	if rest := fs.Args(); len(rest) > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (the workload takes flags only)", rest[0])
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"startup-delay", cfg.StartupDelay},
		{"fail-readiness-after", cfg.FailReadinessAfter},
		{"fail-liveness-after", cfg.FailLivenessAfter},
		{"crash-after", cfg.CrashAfter},
		{"shutdown-delay", cfg.ShutdownDelay},
		{"cpu-per-request", cfg.CPUPerRequest},
	} {
		if d.v < 0 {
			return Config{}, fmt.Errorf("invalid argument %q for \"--%s\" flag: must not be negative", d.v, d.flag)
		}
	}
	if cfg.Listen == "" {
		return Config{}, fmt.Errorf("invalid argument \"\" for \"--listen\" flag: want an address such as :8080")
	}
	cfg.Node = env[EnvNode]
	cfg.Allocation = env[EnvAllocation]
	cfg.Hostname = env[EnvHostname]
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname() // best effort: an empty hostname is still a valid answer
	}
	return cfg, nil
}

// Usage is the help text of the flags.
func Usage() string {
	var cfg Config
	return flagSet(&cfg).FlagUsages()
}

// rateValue is a share between 0 and 1, written 0.3 or 30%.
type rateValue float64

func (r *rateValue) String() string { return strconv.FormatFloat(float64(*r), 'g', -1, 64) }
func (r *rateValue) Type() string   { return "rate" }
func (r *rateValue) Set(s string) error {
	v, err := parseRate(s)
	if err != nil {
		return err
	}
	*r = rateValue(v)
	return nil
}

// parseRate reads 0.3 or 30% and checks it lies in [0, 1].
func parseRate(s string) (float64, error) {
	var v float64
	if strings.HasSuffix(strings.TrimSpace(s), "%") {
		p, err := api.ParsePercent(s)
		if err != nil {
			return 0, err
		}
		v = p.Fraction()
	} else {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, fmt.Errorf("want a number between 0 and 1, or a percentage")
		}
		v = f
	}
	if !(v >= 0 && v <= 1) { // also refuses NaN
		return 0, fmt.Errorf("%s is not between 0 and 1", s)
	}
	return v, nil
}

type latencyValue Latency

func (l *latencyValue) String() string { return Latency(*l).String() }
func (l *latencyValue) Type() string   { return "latency" }
func (l *latencyValue) Set(s string) error {
	v, err := ParseLatency(s)
	if err != nil {
		return err
	}
	*l = latencyValue(v)
	return nil
}

type memoryValue int64

func (m *memoryValue) String() string { return api.Memory(*m).String() }
func (m *memoryValue) Type() string   { return "quantity" }
func (m *memoryValue) Set(s string) error {
	v, err := api.ParseMemory(s)
	if err != nil {
		return err
	}
	*m = memoryValue(v)
	return nil
}
