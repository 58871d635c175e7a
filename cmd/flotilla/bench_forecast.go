package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"flotilla/api"
	"flotilla/internal/sysinfo"
	"flotilla/network/loadgen"
	"flotilla/scenarios/lab"
)

// `flotilla bench forecast` measures issue 12's goal for forecasts: under
// a periodic load, replicas rise before each peak from the second period
// on, and the overload is at least halved against the same run without a
// forecast. Two services that differ only by autoscale.forecast get the
// same wave at the same time; every second both are read as `top
// services` reads them, and the seconds with more requests in flight per
// ready replica than target × 1.5 are counted per period.

// The services' autoscaling: in-flight requests, 5 per replica, 1 to 12.
const (
	forecastBenchTarget = 5.0
	// A second is overloaded above target × forecastOverloadFactor in
	// flight per ready replica.
	forecastOverloadFactor = 1.5
	forecastBenchMin       = 1
	forecastBenchMax       = 12
	forecastBenchLab       = "bench-forecast"
	forecastBenchPort      = 7982 // unusual, so that no other lab's VIP:port is the same
	forecastBenchLatency   = 50 * time.Millisecond
	// The two services: with autoscale.forecast, and without.
	forecastBenchWith    = "bench-fc"
	forecastBenchWithout = "bench-nofc"
)

// forecastBenchConfig says what `flotilla bench forecast` runs.
type forecastBenchConfig struct {
	Binary string
	// Address is an existing cluster's servers; empty starts a lab of the
	// benchmark's own (Servers, Agents, BasePort under Root), removed at
	// the end.
	Address  string
	Root     string
	BasePort int
	Servers  int
	Agents   int
	// The wave: Profile (square or sine) between MinRate and Rate requests
	// per second, once every Period, for Periods periods.
	Profile string
	Period  time.Duration
	Periods int
	Rate    float64
	MinRate float64
	// StartupDelay is how long each replica of the demo app waits before
	// it listens (so before its readiness probe passes).
	StartupDelay time.Duration
	// Lookahead is the forecast's (its season is Period);
	// Stabilization the scale-down stabilisation window of both services.
	Lookahead     time.Duration
	Stabilization time.Duration
	// SamplesFile, when set, receives every sample as CSV.
	SamplesFile string
	Progress    io.Writer
}

// forecastBenchResult is what `flotilla bench forecast -o json` prints.
type forecastBenchResult struct {
	Date    string `json:"date"`
	Machine string `json:"machine"`
	Command string `json:"command"`
	// Cluster is "lab (N servers, M agents, sim)" or the --address given.
	Cluster       string       `json:"cluster"`
	Profile       string       `json:"profile"`
	Period        api.Duration `json:"period"`
	Periods       int          `json:"periods"`
	Rate          float64      `json:"rate"`
	MinRate       float64      `json:"minRate"`
	StartupDelay  api.Duration `json:"startupDelay"`
	Lookahead     api.Duration `json:"lookahead"`
	Stabilization api.Duration `json:"stabilizationWindow"`
	Target        float64      `json:"target"`
	// OverloadAbove is target × 1.5: in flight per ready replica above it
	// makes an overloaded second.
	OverloadAbove float64 `json:"overloadAbove"`
	// RiseS is where the load rises within each period, in seconds: the
	// step of a square wave, half way up a sine.
	RiseS    float64                 `json:"riseS"`
	Services []forecastServiceResult `json:"services"`
	// OverloadRatio is the forecast service's overloaded seconds over the
	// other's, periods 2..N (nil when the other had none: nothing to
	// halve); GoalMet when it is at most 0.5.
	OverloadRatio *float64 `json:"overloadRatio"`
	GoalMet       bool     `json:"goalMet"`
	// SampleFailures counts seconds whose reading failed (no sample).
	SampleFailures int `json:"sampleFailures,omitempty"`
}

// forecastServiceResult is one service's run.
type forecastServiceResult struct {
	Name     string `json:"name"`
	Forecast bool   `json:"forecast"`
	// Periods are every period's figures, the first (the forecast's
	// warm-up) included.
	Periods []forecastPeriod `json:"periods"`
	// Overloaded sums the overloaded seconds of periods 2..N.
	Overloaded int `json:"overloadedSeconds"`
	// Scalings are the autoscaler's changes while the load ran.
	Scalings []forecastScaling `json:"scalings"`
}

// forecastPeriod is one service's figures over one period of the wave.
type forecastPeriod struct {
	Period  int `json:"period"`
	Samples int `json:"samples"`
	// Overloaded counts samples with in flight per ready replica above
	// target × 1.5 (any in flight with none ready counts).
	Overloaded  int     `json:"overloadedSeconds"`
	MaxPerReady float64 `json:"maxInFlightPerReady"`
	// FewestReady is the fewest ready replicas from the period's start to
	// the rise; ReadyBeforeRise the ready replicas 1 s before the rise
	// (-1 without a sample then).
	FewestReady     int `json:"fewestReadyBeforeRise"`
	ReadyBeforeRise int `json:"readyBeforeRise"`
	// ReplicaSeconds sums the replicas asked for over the samples: what
	// the period cost.
	ReplicaSeconds int `json:"replicaSeconds"`
	// ScaledUp counts the autoscaler's increases in the period,
	// ScaledUpByForecast those the forecast decided; FirstScaleUpS is the
	// first increase relative to the rise (negative: before it).
	ScaledUp           int      `json:"scaledUp"`
	ScaledUpByForecast int      `json:"scaledUpByForecast"`
	FirstScaleUpS      *float64 `json:"firstScaleUpS,omitempty"`
	// The load generator's figures for the period.
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	P99Ms    float64 `json:"p99Ms"`
}

// forecastScaling is one change of the autoscaler, from its event.
type forecastScaling struct {
	// AtS is seconds since the load began.
	AtS      float64 `json:"atS"`
	From     int     `json:"from"`
	To       int     `json:"to"`
	Forecast bool    `json:"forecast,omitempty"`
	Panic    bool    `json:"panic,omitempty"`
}

// forecastSample is one second's reading of one service: the figures
// `top services` shows.
type forecastSample struct {
	// At is since the load began.
	At       time.Duration
	Replicas int
	Ready    int
	// InFlight is the proxies' newest count, summed over the revisions.
	InFlight int64
	// Forecast is the autoscaler's, nil before the model has one.
	Forecast *float64
}

// forecastWave is the load's shape as the counting needs it.
type forecastWave struct {
	Period  time.Duration
	Periods int
	// Rise is the offset within each period where the load rises.
	Rise          time.Duration
	OverloadAbove float64
}

// forecastRise is where a profile's load rises within a period: the step
// of a square wave (half way), the middle of a sine's climb (a quarter).
func forecastRise(profile string, period time.Duration) time.Duration {
	if profile == loadgen.ProfileSine {
		return period / 4
	}
	return period / 2
}

func newBenchForecastCmd(g *globals) *cobra.Command {
	var cfg forecastBenchConfig
	cmd := &cobra.Command{
		Use:   "forecast",
		Short: "Overload under a periodic load, with and without the autoscaler's forecast, on a sim lab",
		Long: `Starts a sim lab of its own (--servers, --agents, on loopback; removed at the
end), or uses the cluster at --address (its two services are deleted at
the end), and applies two services of the demo app that differ only by
autoscale.forecast: ` + forecastBenchWith + ` with {season: --period, lookahead: --lookahead},
` + forecastBenchWithout + ` without. Both answer in 50 ms, wait --startup-delay before
listening (so a new replica is ready only seconds after it was asked for,
as a container is), have a readiness probe every second and
autoscale: {min: 1, max: 12, metric: inflight, target: 5,
stabilizationWindow: --stabilization-window}.

Both get the same wave at the same time (the in-process load generator,
--profile square or sine between --min-rate and --rate requests/s, once
every --period, for --periods periods); every second both are read as
'flotilla top services' reads them. Per service and period: the seconds
with more than target × 1.5 = 7.5 requests in flight per ready replica
(overloaded), the ready replicas 1 s before the rise (the step of a square
wave, half way up a sine) and the fewest before it, the replica-seconds,
the autoscaler's increases (and how many the forecast decided), and the
load's requests, errors and p99. Period 1 is the forecast's warm-up; the
ratio of overload is over periods 2..N.

The default period, 2 minutes, is twice the autoscaler's 60 s stable
window: with a shorter one the stable window always holds part of the last
peak and keeps replicas through the low half, and there is little left
for a forecast to do.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cfg.validate(); err != nil {
				return err
			}
			return runBench(cmd, g, func(bin string, progress io.Writer) { cfg.Binary, cfg.Address, cfg.Progress = bin, g.address, progress },
				func(ctx context.Context) (*forecastBenchResult, error) { return runForecastBench(ctx, cfg) }, printForecastResult)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Profile, "profile", loadgen.ProfileSquare, "the wave: square (--min-rate the first half of each period, --rate the second) or sine")
	f.DurationVar(&cfg.Period, "period", 2*time.Minute, "the wave's period, and the forecast's season (30s at least)")
	f.IntVar(&cfg.Periods, "periods", 4, "periods to run (the first is the forecast's warm-up)")
	f.Float64Var(&cfg.Rate, "rate", 400, "peak requests per second, to each service")
	f.Float64Var(&cfg.MinRate, "min-rate", 20, "lowest requests per second, to each service")
	f.DurationVar(&cfg.StartupDelay, "startup-delay", 5*time.Second, "how long a replica waits before it listens")
	f.DurationVar(&cfg.Lookahead, "lookahead", 15*time.Second, "the forecast's lookahead (more than --startup-delay)")
	f.DurationVar(&cfg.Stabilization, "stabilization-window", 20*time.Second, "both services' scale-down stabilization window")
	f.StringVar(&cfg.SamplesFile, "samples", "", "write every second's reading of both services to this CSV file")
	f.IntVar(&cfg.Servers, "servers", 3, "servers in the lab (without --address)")
	f.IntVar(&cfg.Agents, "agents", 3, "agents in the lab (without --address)")
	f.IntVar(&cfg.BasePort, "base-port", 0, "the lab's first port (0: a free block picked at random)")
	cfg.Root = lab.DefaultRoot()
	return cmd
}

// validate refuses flags that cannot show anything before a lab starts.
func (c forecastBenchConfig) validate() error {
	switch {
	case c.Profile != loadgen.ProfileSquare && c.Profile != loadgen.ProfileSine:
		return fmt.Errorf("--profile %q: want square or sine", c.Profile)
	case c.Period < api.MinForecastSeason || c.Period > api.MaxForecastSeason:
		return fmt.Errorf("--period %s: the forecast's season, want between %s and %s", c.Period, api.MinForecastSeason, api.MaxForecastSeason)
	case c.Periods < 2:
		return fmt.Errorf("--periods %d: want 2 at least (the first is the forecast's warm-up)", c.Periods)
	case !(c.Rate > 0):
		return fmt.Errorf("--rate %g: want more than 0", c.Rate)
	case c.MinRate < 0 || c.MinRate > c.Rate:
		return fmt.Errorf("--min-rate %g: want between 0 and --rate (%g)", c.MinRate, c.Rate)
	case c.StartupDelay < 0:
		return fmt.Errorf("--startup-delay %s: want 0 or more", c.StartupDelay)
	case c.Lookahead <= c.StartupDelay:
		return fmt.Errorf("--lookahead %s: want more than --startup-delay (%s), or the forecast's replicas cannot be ready in time", c.Lookahead, c.StartupDelay)
	case c.Lookahead >= c.Period:
		return fmt.Errorf("--lookahead %s: want less than --period (%s)", c.Lookahead, c.Period)
	case c.Stabilization <= 0:
		return fmt.Errorf("--stabilization-window %s: want more than 0", c.Stabilization)
	}
	return nil
}

func printForecastResult(out io.Writer, res *forecastBenchResult) error {
	fmt.Fprintf(out, "machine:  %s\n", res.Machine)
	fmt.Fprintf(out, "cluster:  %s\n", res.Cluster)
	fmt.Fprintf(out, "load:     %s wave %g → %g requests/s, period %s (rise at %gs), %d periods, to each service at once\n",
		res.Profile, res.MinRate, res.Rate, res.Period, res.RiseS, res.Periods)
	fmt.Fprintf(out, "services: demo app (50 ms, startup delay %s), autoscale inflight target %g, %d..%d, stabilizationWindow %s; %s with forecast {season: %s, lookahead: %s}\n\n",
		res.StartupDelay, res.Target, forecastBenchMin, forecastBenchMax, res.Stabilization, forecastBenchWith, res.Period, res.Lookahead)
	t := newTable(out, "SERVICE", "PERIOD", "OVERLOADED", "MAX/READY", "FEWEST READY", "READY 1S BEFORE RISE", "FIRST SCALE-UP", "UP (FORECAST)", "REPLICA-S", "REQUESTS", "ERRORS", "P99")
	for _, s := range res.Services {
		for _, p := range s.Periods {
			period := strconv.Itoa(p.Period)
			if p.Period == 1 {
				period += " (warm-up)"
			}
			before, first := "-", "-"
			if p.ReadyBeforeRise >= 0 {
				before = strconv.Itoa(p.ReadyBeforeRise)
			}
			if p.FirstScaleUpS != nil {
				first = fmt.Sprintf("%+.0fs", *p.FirstScaleUpS)
			}
			t.row(s.Name, period, fmt.Sprintf("%ds", p.Overloaded), fmt.Sprintf("%.1f", p.MaxPerReady), p.FewestReady, before, first,
				fmt.Sprintf("%d (%d)", p.ScaledUp, p.ScaledUpByForecast), p.ReplicaSeconds, p.Requests, p.Errors, loadMs(p.P99Ms))
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	var with, without int
	for _, s := range res.Services {
		if s.Forecast {
			with = s.Overloaded
		} else {
			without = s.Overloaded
		}
	}
	span := fmt.Sprintf("periods 2-%d", res.Periods)
	switch {
	case res.OverloadRatio == nil:
		fmt.Fprintf(out, "overloaded seconds, %s: %d with the forecast, %d without: nothing to halve\n", span, with, without)
	case res.GoalMet:
		fmt.Fprintf(out, "overloaded seconds, %s: %d with the forecast, %d without (ratio %.2f): at least halved\n", span, with, without, *res.OverloadRatio)
	default:
		fmt.Fprintf(out, "overloaded seconds, %s: %d with the forecast, %d without (ratio %.2f): NOT halved\n", span, with, without, *res.OverloadRatio)
	}
	if res.SampleFailures > 0 {
		fmt.Fprintf(out, "readings that failed (no sample that second): %d\n", res.SampleFailures)
	}
	return nil
}

// Pure parts: the counting.

// summarizeForecastRun turns one service's samples and scalings into
// per-period figures (the load's figures are the caller's to add).
func summarizeForecastRun(samples []forecastSample, scalings []forecastScaling, w forecastWave) []forecastPeriod {
	periods := make([]forecastPeriod, w.Periods)
	for i := range periods {
		periods[i] = forecastPeriod{Period: i + 1, FewestReady: -1, ReadyBeforeRise: -1}
	}
	// The sample for "1 s before the rise" is the last one before
	// rise - 0.5 s, if it is no older than rise - 1.5 s: with a sample a
	// second, the one nearest to rise - 1 s.
	beforeAt := make([]time.Duration, w.Periods)
	sorted := slices.Clone(samples)
	slices.SortStableFunc(sorted, func(a, b forecastSample) int { return cmp.Compare(a.At, b.At) })
	for _, s := range sorted {
		k := periodOf(s.At, w)
		if k < 0 {
			continue
		}
		p, start := &periods[k], time.Duration(k)*w.Period
		p.Samples++
		p.ReplicaSeconds += s.Replicas
		perReady := math.Inf(1)
		switch {
		case s.Ready > 0:
			perReady = float64(s.InFlight) / float64(s.Ready)
		case s.InFlight == 0:
			perReady = 0
		}
		if perReady > w.OverloadAbove {
			p.Overloaded++
		}
		if !math.IsInf(perReady, 1) {
			p.MaxPerReady = max(p.MaxPerReady, perReady)
		}
		rise := start + w.Rise
		if s.At < rise && (p.FewestReady < 0 || s.Ready < p.FewestReady) {
			p.FewestReady = s.Ready
		}
		if s.At < rise-500*time.Millisecond && s.At >= rise-1500*time.Millisecond {
			p.ReadyBeforeRise, beforeAt[k] = s.Ready, s.At
		}
	}
	for _, sc := range scalings {
		at := time.Duration(sc.AtS * float64(time.Second))
		k := periodOf(at, w)
		if k < 0 || sc.To <= sc.From {
			continue
		}
		p := &periods[k]
		p.ScaledUp++
		if sc.Forecast {
			p.ScaledUpByForecast++
		}
		if rel := (at - time.Duration(k)*w.Period - w.Rise).Seconds(); p.FirstScaleUpS == nil || rel < *p.FirstScaleUpS {
			p.FirstScaleUpS = &rel
		}
	}
	return periods
}

// periodOf is the index of the period holding at, -1 outside the run.
func periodOf(at time.Duration, w forecastWave) int {
	if at < 0 || w.Period <= 0 {
		return -1
	}
	k := int(at / w.Period)
	if k >= w.Periods {
		return -1
	}
	return k
}

// overloadedFrom sums the overloaded seconds of the periods numbered
// from first on.
func overloadedFrom(periods []forecastPeriod, first int) int {
	n := 0
	for _, p := range periods {
		if p.Period >= first {
			n += p.Overloaded
		}
	}
	return n
}

// overloadRatio is the forecast's overloaded seconds over the reactive
// service's: nil when the reactive one had none (nothing to halve). The
// goal is met at 0.5 or less.
func overloadRatio(withForecast, without int) (ratio *float64, goalMet bool) {
	if without == 0 {
		return nil, false
	}
	r := float64(withForecast) / float64(without)
	return &r, r <= 0.5
}

// parseScaling reads an autoscaler's event ("autoscaled NS/NAME 1 → 4:
// RULE"); ok is false for any other event.
func parseScaling(e *api.Event, t0 time.Time) (forecastScaling, bool) {
	if e.Type != api.EventServiceScaled {
		return forecastScaling{}, false
	}
	rest, ok := strings.CutPrefix(e.Message, fmt.Sprintf("autoscaled %s/%s ", e.Namespace, e.Service))
	if !ok {
		return forecastScaling{}, false
	}
	counts, rule, _ := strings.Cut(rest, ":")
	var s forecastScaling
	if _, err := fmt.Sscanf(counts, "%d → %d", &s.From, &s.To); err != nil {
		return forecastScaling{}, false
	}
	s.AtS = math.Round(e.Time.Sub(t0).Seconds()*10) / 10
	s.Forecast = strings.Contains(rule, "(forecast ")
	s.Panic = strings.Contains(rule, "(panic)")
	return s, true
}

// The run.

type forecastBench struct {
	cfg    forecastBenchConfig
	client *api.Client
}

// forecastBenchService is one of the two services and how it is loaded.
type forecastBenchService struct {
	name     string
	forecast bool
	url      string
	// applied is set once the benchmark applied it (and so deletes it
	// from a cluster given by --address).
	applied bool
}

func runForecastBench(ctx context.Context, cfg forecastBenchConfig) (res *forecastBenchResult, err error) {
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.Root == "" {
		cfg.Root = lab.DefaultRoot()
	}
	cluster := cfg.Address
	given := cfg.Address != ""
	if !given {
		l, uerr := upForecastLab(ctx, cfg)
		if uerr != nil {
			return nil, uerr
		}
		defer downBenchLab(l, &err)
		cfg.Address = l.Addresses()
		cluster = fmt.Sprintf("lab %s (%d servers, %d agents, sim)", l.Name, cfg.Servers, cfg.Agents)
	}
	client, err := api.NewClient(cfg.Address)
	if err != nil {
		return nil, err
	}
	client.AttemptTimeout = 5 * time.Second
	b := &forecastBench{cfg: cfg, client: client}
	services := []*forecastBenchService{{name: forecastBenchWith, forecast: true}, {name: forecastBenchWithout}}
	if given {
		// Someone else's cluster: leave it as it was.
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			for _, s := range services {
				if !s.applied {
					continue
				}
				if _, derr := client.DeleteService(dctx, api.DefaultNamespace, s.name); derr != nil && err == nil {
					err = fmt.Errorf("delete service %s: %w", s.name, derr)
				}
			}
		}()
	}
	if err := b.apply(ctx, services); err != nil {
		return nil, err
	}
	for _, s := range services {
		if err := b.waitServing(ctx, s); err != nil {
			return nil, err
		}
	}

	w := forecastWave{Period: cfg.Period, Periods: cfg.Periods, Rise: forecastRise(cfg.Profile, cfg.Period),
		OverloadAbove: forecastBenchTarget * forecastOverloadFactor}
	fmt.Fprintf(cfg.Progress, "loading both: %s wave %g → %g requests/s, period %s, %d periods (%s)\n",
		cfg.Profile, cfg.MinRate, cfg.Rate, cfg.Period, cfg.Periods, time.Duration(cfg.Periods)*cfg.Period)
	t0 := time.Now()
	sampler := &forecastSampler{client: client, services: services, samples: map[string][]forecastSample{}}
	sctx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	sampling.Go(func() { sampler.run(sctx, t0) })
	defer func() {
		stopSampling()
		sampling.Wait()
	}()
	loads := b.startLoads(ctx, services, t0)
	for k := 1; k <= cfg.Periods; k++ {
		// A second past the period's end, so that its last sample is in.
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(t0.Add(time.Duration(k)*cfg.Period + time.Second))):
		}
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(cfg.Progress, "period %d/%d:", k, cfg.Periods)
		for _, s := range services {
			p := summarizeForecastRun(sampler.of(s.name), nil, w)[k-1]
			fmt.Fprintf(cfg.Progress, "  %s overloaded %ds, %d ready 1s before the rise;", s.name, p.Overloaded, p.ReadyBeforeRise)
		}
		fmt.Fprintln(cfg.Progress)
	}
	summaries := loads.wait()
	stopSampling()
	sampling.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	res = &forecastBenchResult{Date: time.Now().UTC().Format(time.RFC3339), Machine: sysinfo.Machine(), Cluster: cluster,
		Profile: cfg.Profile, Period: api.Duration(cfg.Period), Periods: cfg.Periods, Rate: cfg.Rate, MinRate: cfg.MinRate,
		StartupDelay: api.Duration(cfg.StartupDelay), Lookahead: api.Duration(cfg.Lookahead), Stabilization: api.Duration(cfg.Stabilization),
		Target: forecastBenchTarget, OverloadAbove: w.OverloadAbove, RiseS: w.Rise.Seconds(), SampleFailures: sampler.failures}
	var with, without int
	for i, s := range services {
		scalings, err := b.scalings(ctx, s.name, t0)
		if err != nil {
			return nil, err
		}
		sr := forecastServiceResult{Name: s.name, Forecast: s.forecast, Scalings: scalings,
			Periods: summarizeForecastRun(sampler.of(s.name), scalings, w)}
		for k := range sr.Periods {
			sum := summaries[i][k]
			sr.Periods[k].Requests, sr.Periods[k].Errors, sr.Periods[k].P99Ms = sum.Requests, sum.Errors, sum.P99Ms
		}
		sr.Overloaded = overloadedFrom(sr.Periods, 2)
		if s.forecast {
			with = sr.Overloaded
		} else {
			without = sr.Overloaded
		}
		res.Services = append(res.Services, sr)
	}
	res.OverloadRatio, res.GoalMet = overloadRatio(with, without)
	if cfg.SamplesFile != "" {
		if err := writeForecastSamples(cfg.SamplesFile, services, sampler); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// upForecastLab starts the benchmark's lab.
func upForecastLab(ctx context.Context, cfg forecastBenchConfig) (*lab.Lab, error) {
	return upBenchLab(ctx, lab.Config{Name: forecastBenchLab, Servers: cfg.Servers, Agents: cfg.Agents, Runtime: "sim", Root: cfg.Root,
		Binary: cfg.Binary, BasePort: cfg.BasePort, ReadyTimeout: 30 * time.Second}, cfg.Progress)
}

// spec is the service's document: the two differ only by the forecast.
func (b *forecastBench) spec(s *forecastBenchService) string {
	args := []string{"--version", "v1", "--latency", forecastBenchLatency.String()}
	if b.cfg.StartupDelay > 0 {
		args = append(args, "--startup-delay", b.cfg.StartupDelay.String())
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = strconv.Quote(a)
	}
	forecast := ""
	if s.forecast {
		forecast = fmt.Sprintf(", forecast: {season: %s, lookahead: %s}", api.Duration(b.cfg.Period), api.Duration(b.cfg.Lookahead))
	}
	return fmt.Sprintf(`kind: Service
name: %s
namespace: default
image: flotilla.local/demo:v1
args: [%s]
resources: {cpu: 50m, memory: 32Mi}
ports: [{name: http, port: %d, protocol: http}]
probes:
  readiness: {http: {path: /ready, port: http}, period: 1s}
autoscale: {min: %d, max: %d, metric: inflight, target: %g, stabilizationWindow: %s%s}
`, s.name, strings.Join(quoted, ", "), forecastBenchPort, forecastBenchMin, forecastBenchMax, forecastBenchTarget,
		api.Duration(b.cfg.Stabilization), forecast)
}

// apply applies both services; on a cluster given by --address it
// refuses to change services that already exist.
func (b *forecastBench) apply(ctx context.Context, services []*forecastBenchService) error {
	for _, s := range services {
		_, _, err := b.client.Service(ctx, api.DefaultNamespace, s.name, api.QueryOptions{})
		switch {
		case err == nil:
			return fmt.Errorf("service %s already exists in the cluster; delete it first (flotilla delete service %s) or run without --address", s.name, s.name)
		case !errors.Is(err, api.ErrNotFound):
			return fmt.Errorf("read service %s: %w", s.name, err)
		}
	}
	for _, s := range services {
		specs, err := api.DecodeServices("bench", []byte(b.spec(s)))
		if err != nil {
			return err
		}
		if _, err := b.client.ApplyService(ctx, specs[0]); err != nil {
			return fmt.Errorf("apply %s: %w", s.name, err)
		}
		s.applied = true
		fmt.Fprintf(b.cfg.Progress, "applied %s\n", s.name)
	}
	return nil
}

// waitServing waits until the service has a ready replica and a GET
// through its VIP answers, and sets its URL.
func (b *forecastBench) waitServing(ctx context.Context, s *forecastBenchService) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+2*b.cfg.StartupDelay)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	last := "no ready replica"
	for {
		svc, _, err := b.client.Service(ctx, api.DefaultNamespace, s.name, api.QueryOptions{})
		switch {
		case err != nil:
			last = err.Error()
		case svc.ReadyReplicas > 0 && svc.VIP != "":
			s.url = fmt.Sprintf("http://%s:%d/", svc.VIP, forecastBenchPort)
			if resp, err := client.Get(s.url); err != nil {
				last = err.Error()
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					fmt.Fprintf(b.cfg.Progress, "%s answers at %s\n", s.name, s.url)
					return nil
				}
				last = "GET " + s.url + ": " + resp.Status
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to answer through its VIP: %w (last: %s)", s.name, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// forecastLoads are the load generator's runs, one per service and period.
type forecastLoads struct {
	wg        sync.WaitGroup
	summaries [][]loadgen.Summary // [service][period]
}

// startLoads runs the wave on every service, one load generator run per
// period, each started at its period's start so that a run's wait for
// its last answers does not shift the next.
func (b *forecastBench) startLoads(ctx context.Context, services []*forecastBenchService, t0 time.Time) *forecastLoads {
	l := &forecastLoads{summaries: make([][]loadgen.Summary, len(services))}
	for i, s := range services {
		l.summaries[i] = make([]loadgen.Summary, b.cfg.Periods)
		for k := 0; k < b.cfg.Periods; k++ {
			l.wg.Go(func() {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(t0.Add(time.Duration(k) * b.cfg.Period))):
				}
				sum, err := loadgen.Run(ctx, loadgen.Config{URL: s.url, Rate: b.cfg.Rate, Profile: b.cfg.Profile,
					Period: b.cfg.Period, MinRate: b.cfg.MinRate, Duration: b.cfg.Period})
				if err != nil { // validated before: not expected
					fmt.Fprintf(b.cfg.Progress, "load %s, period %d: %v\n", s.name, k+1, err)
				}
				l.summaries[i][k] = sum
			})
		}
	}
	return l
}

func (l *forecastLoads) wait() [][]loadgen.Summary {
	l.wg.Wait()
	return l.summaries
}

// scalings reads the autoscaler's changes of a service since t0.
func (b *forecastBench) scalings(ctx context.Context, name string, t0 time.Time) ([]forecastScaling, error) {
	events, _, err := b.client.Events(ctx, api.EventFilter{Namespace: api.DefaultNamespace, Service: name}, api.QueryOptions{})
	if err != nil {
		return nil, fmt.Errorf("read the events of %s: %w", name, err)
	}
	var out []forecastScaling
	for _, e := range events {
		if s, ok := parseScaling(e, t0); ok && s.AtS >= 0 {
			out = append(out, s)
		}
	}
	return out, nil
}

// forecastSampler reads both services once a second, as `top services`
// does (topServices, addTraffic, addForecasts).
type forecastSampler struct {
	client   *api.Client
	services []*forecastBenchService

	mu       sync.Mutex
	samples  map[string][]forecastSample
	failures int
}

func (s *forecastSampler) run(ctx context.Context, t0 time.Time) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	at := time.Duration(0)
	for {
		s.sample(ctx, at)
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			at = now.Sub(t0)
		}
	}
}

// sample reads every service at one moment; a failed reading leaves that
// second without a sample (counted as a failure).
func (s *forecastSampler) sample(ctx context.Context, at time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, 900*time.Millisecond)
	defer cancel()
	rows, err := s.read(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.failures++
		}
		return
	}
	for _, r := range rows {
		s.samples[r.Name] = append(s.samples[r.Name], forecastSample{At: at, Replicas: r.Replicas, Ready: r.ReadyReplicas,
			InFlight: r.InFlight, Forecast: r.Forecast})
	}
}

func (s *forecastSampler) read(ctx context.Context) ([]topService, error) {
	usage, err := s.client.TopAllocations(ctx)
	if err != nil {
		return nil, err
	}
	var services []*api.Service
	for _, fs := range s.services {
		svc, _, err := s.client.Service(ctx, api.DefaultNamespace, fs.name, api.QueryOptions{})
		if err != nil {
			return nil, err
		}
		services = append(services, svc)
	}
	rows := topServices(services, usage.Allocations)
	addForecasts(rows, usage.Forecasts)
	for i := range rows {
		t, err := s.client.Traffic(ctx, rows[i].Namespace, rows[i].Name)
		if err != nil {
			return nil, err
		}
		addTraffic(&rows[i], t)
	}
	return rows, nil
}

func (s *forecastSampler) of(name string) []forecastSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples[name])
}

// writeForecastSamples writes every sample as CSV: service, seconds since
// the load began, replicas, ready, in flight, forecast (empty without).
func writeForecastSamples(path string, services []*forecastBenchService, s *forecastSampler) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write samples: %w", err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"service", "at_s", "replicas", "ready", "in_flight", "forecast"})
	for _, svc := range services {
		for _, x := range s.of(svc.name) {
			forecast := ""
			if x.Forecast != nil {
				forecast = strconv.FormatFloat(*x.Forecast, 'f', 2, 64)
			}
			_ = w.Write([]string{svc.name, strconv.FormatFloat(x.At.Seconds(), 'f', 3, 64), strconv.Itoa(x.Replicas),
				strconv.Itoa(x.Ready), strconv.FormatInt(x.InFlight, 10), forecast})
		}
	}
	w.Flush()
	if err := errors.Join(w.Error(), f.Close()); err != nil {
		return fmt.Errorf("write samples to %s: %w", path, err)
	}
	return nil
}

// recordCommand keeps the command line the result came from.
func (r *forecastBenchResult) recordCommand(line string) { r.Command = line }
