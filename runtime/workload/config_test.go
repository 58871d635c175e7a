package workload

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestParseArgsDefaultsAndEnvironment(t *testing.T) {
	cfg, err := ParseArgs(nil, map[string]string{
		EnvNode: "n1", EnvAllocation: "abc123", EnvHostname: "web-abc12",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != "v1" || cfg.Listen != ":8080" {
		t.Errorf("defaults: version %q listen %q, want v1 and :8080", cfg.Version, cfg.Listen)
	}
	if cfg.Node != "n1" || cfg.Allocation != "abc123" || cfg.Hostname != "web-abc12" {
		t.Errorf("from env: node %q alloc %q hostname %q", cfg.Node, cfg.Allocation, cfg.Hostname)
	}
	if cfg.ErrorRate != 0 || cfg.ConversionRate != 0 || !cfg.Latency.IsZero() || cfg.CrashAfter != 0 || cfg.Memory != 0 {
		t.Errorf("faults are off by default: %+v", cfg)
	}
}

func TestParseArgsHostnameFallsBackToTheMachines(t *testing.T) {
	cfg, err := ParseArgs(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hostname == "" {
		t.Error("without HOSTNAME the hostname comes from os.Hostname, got empty")
	}
}

func TestParseArgsReadsEveryFlag(t *testing.T) {
	cfg, err := ParseArgs([]string{
		"--version", "v2",
		"--listen", "127.0.0.1:9090",
		"--error-rate", "30%",
		"--conversion-rate", "0.12",
		"--latency", "50ms..150ms",
		"--startup-delay", "1s",
		"--fail-readiness-after", "2s",
		"--fail-liveness-after", "3s",
		"--crash-after", "4s",
		"--shutdown-delay", "5s",
		"--cpu-per-request", "6ms",
		"--memory", "64Mi",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Version: "v2", Listen: "127.0.0.1:9090", ErrorRate: 0.3, ConversionRate: 0.12,
		Latency:      Latency{Shape: LatencyUniform, Low: 50 * time.Millisecond, High: 150 * time.Millisecond, Mean: 100 * time.Millisecond},
		StartupDelay: time.Second, FailReadinessAfter: 2 * time.Second, FailLivenessAfter: 3 * time.Second,
		CrashAfter: 4 * time.Second, ShutdownDelay: 5 * time.Second, CPUPerRequest: 6 * time.Millisecond,
		Memory: 64 << 20,
	}
	cfg.Hostname = ""
	if cfg.Version != want.Version || cfg.Listen != want.Listen || cfg.ErrorRate != want.ErrorRate ||
		cfg.ConversionRate != want.ConversionRate ||
		cfg.Latency != want.Latency || cfg.StartupDelay != want.StartupDelay ||
		cfg.FailReadinessAfter != want.FailReadinessAfter || cfg.FailLivenessAfter != want.FailLivenessAfter ||
		cfg.CrashAfter != want.CrashAfter || cfg.ShutdownDelay != want.ShutdownDelay ||
		cfg.CPUPerRequest != want.CPUPerRequest || cfg.Memory != want.Memory {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestParseArgsAcceptsEqualsAndPlainRates(t *testing.T) {
	cfg, err := ParseArgs([]string{"--error-rate=0.25", "--latency=100ms±20ms"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ErrorRate != 0.25 || cfg.Latency.Shape != LatencyNormal {
		t.Errorf("got rate %v latency %v", cfg.ErrorRate, cfg.Latency)
	}
}

func TestParseArgsErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--error-rate", "2"}, "--error-rate"},
		{[]string{"--error-rate", "often"}, "--error-rate"},
		{[]string{"--error-rate", "150%"}, "--error-rate"},
		{[]string{"--conversion-rate", "1.2"}, "--conversion-rate"},
		{[]string{"--conversion-rate", "-5%"}, "--conversion-rate"},
		{[]string{"--latency", "slow"}, "--latency"},
		{[]string{"--latency", "200ms..100ms"}, "--latency"},
		{[]string{"--latency", "-5ms"}, "--latency"},
		{[]string{"--memory", "lots"}, "--memory"},
		{[]string{"--startup-delay", "soon"}, "--startup-delay"},
		{[]string{"--fail-readiness-after", "-1s"}, "--fail-readiness-after"},
		{[]string{"--fail-liveness-after", "x"}, "--fail-liveness-after"},
		{[]string{"--crash-after", "-1s"}, "--crash-after"},
		{[]string{"--shutdown-delay", "1"}, "--shutdown-delay"},
		{[]string{"--cpu-per-request", "-2ms"}, "--cpu-per-request"},
		{[]string{"--listen", ""}, "--listen"},
		{[]string{"--colour", "blue"}, "--colour"},
		{[]string{"--version"}, "--version"},
		{[]string{"serve"}, `"serve"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := ParseArgs(tc.args, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

func TestParseArgsHelp(t *testing.T) {
	if _, err := ParseArgs([]string{"--help"}, nil); !errors.Is(err, ErrHelp) {
		t.Errorf("--help: got %v, want ErrHelp", err)
	}
	for _, flag := range []string{"--version", "--error-rate", "--conversion-rate", "--latency", "--crash-after", "--memory"} {
		if !strings.Contains(Usage(), flag) {
			t.Errorf("usage does not mention %s", flag)
		}
	}
}

func TestParseLatency(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		in   string
		want Latency
		back string
	}{
		{"", Latency{}, "0s"},
		{"0", Latency{}, "0s"},
		{"100ms", FixedLatency(100 * ms), "100ms"},
		{" 1s ", FixedLatency(time.Second), "1s"},
		{"50ms..150ms", Latency{Shape: LatencyUniform, Low: 50 * ms, High: 150 * ms, Mean: 100 * ms}, "50ms..150ms"},
		{"0..10ms", Latency{Shape: LatencyUniform, Low: 0, High: 10 * ms, Mean: 5 * ms}, "0s..10ms"},
		{"100ms±20ms", Latency{Shape: LatencyNormal, Mean: 100 * ms, StdDev: 20 * ms}, "100ms±20ms"},
		{"100ms+-20ms", Latency{Shape: LatencyNormal, Mean: 100 * ms, StdDev: 20 * ms}, "100ms±20ms"},
	} {
		got, err := ParseLatency(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
		if got.String() != tc.back {
			t.Errorf("%q: written back as %q, want %q", tc.in, got.String(), tc.back)
		}
	}
	for _, bad := range []string{"fast", "100", "-1ms", "2s..1s", "1s..", "±5ms", "100ms±-5ms", "1s..x"} {
		if _, err := ParseLatency(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLatencySamplesStayInTheirShape(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ms := time.Millisecond
	fixed := FixedLatency(100 * ms)
	uniform, _ := ParseLatency("50ms..150ms")
	normal, _ := ParseLatency("100ms±10ms")
	clamped, _ := ParseLatency("1ms±50ms")
	const n = 5000
	var uniformSum, normalSum time.Duration
	for range n {
		if d := fixed.Sample(r); d != 100*ms {
			t.Fatalf("fixed gave %v", d)
		}
		d := uniform.Sample(r)
		if d < 50*ms || d > 150*ms {
			t.Fatalf("uniform gave %v, outside 50ms..150ms", d)
		}
		uniformSum += d
		normalSum += normal.Sample(r)
		if d := clamped.Sample(r); d < 0 {
			t.Fatalf("normal latency not clamped at 0: %v", d)
		}
	}
	if mean := uniformSum / n; mean < 95*ms || mean > 105*ms {
		t.Errorf("uniform mean %v, want about 100ms", mean)
	}
	if mean := normalSum / n; mean < 99*ms || mean > 101*ms {
		t.Errorf("normal mean %v, want about 100ms", mean)
	}
}
