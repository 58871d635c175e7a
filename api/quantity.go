package api

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// CPU is an amount of processor time in millicores: "250m", "2" or 0.5
// (cores) in documents; it is written back as "250m" so that any object read
// from the API can be applied again unchanged.
type CPU int64

// ParseCPU reads "250m", "1.5" or "2" (cores).
func ParseCPU(s string) (CPU, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty cpu quantity")
	}
	if m, ok := strings.CutSuffix(s, "m"); ok {
		n, err := strconv.ParseInt(m, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid cpu quantity %q (want e.g. 250m or 1.5)", s)
		}
		return CPU(n), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > 1e12 {
		return 0, fmt.Errorf("invalid cpu quantity %q (want e.g. 250m or 1.5)", s)
	}
	return CPU(math.Round(f * 1000)), nil
}

func (c CPU) String() string { return strconv.FormatInt(int64(c), 10) + "m" }

func (c CPU) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

func (c *CPU) UnmarshalJSON(b []byte) error {
	s, err := scalarString(b)
	if err != nil {
		return err
	}
	v, err := ParseCPU(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Memory is an amount of bytes: "64Mi", "1G", "512k" or a plain number of
// bytes. It is written back with the largest exact binary suffix.
type Memory int64

var memorySuffixes = []struct {
	suffix string
	factor int64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
}

// ParseMemory reads "64Mi", "1.5Gi", "100M" or "1048576".
func ParseMemory(s string) (Memory, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty memory quantity")
	}
	factor := int64(1)
	num := s
	for _, suf := range memorySuffixes {
		if n, ok := strings.CutSuffix(s, suf.suffix); ok {
			factor, num = suf.factor, n
			break
		}
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64/factor {
			return 0, fmt.Errorf("invalid memory quantity %q", s)
		}
		return Memory(n * factor), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f*float64(factor) > 1<<62 {
		return 0, fmt.Errorf("invalid memory quantity %q (want e.g. 64Mi, 1Gi or 512M)", s)
	}
	return Memory(math.Round(f * float64(factor))), nil
}

func (m Memory) String() string {
	for _, unit := range []struct {
		suffix string
		factor int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if m != 0 && int64(m)%unit.factor == 0 {
			return strconv.FormatInt(int64(m)/unit.factor, 10) + unit.suffix
		}
	}
	return strconv.FormatInt(int64(m), 10)
}

func (m Memory) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

func (m *Memory) UnmarshalJSON(b []byte) error {
	s, err := scalarString(b)
	if err != nil {
		return err
	}
	v, err := ParseMemory(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Duration is a time.Duration written as "30s", "1m30s" or "250ms"; a bare
// number in a document means seconds.
type Duration time.Duration

// ParseDuration reads "30s", "1m30s", "250ms" or a number of seconds.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
		}
		if math.IsNaN(f) || f >= float64(math.MaxInt64)/float64(time.Second) {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 30s, 500ms or 2m)", s)
	}
	return Duration(d), nil
}

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String drops the zero units time.Duration prints ("1m" rather than "1m0s").
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := scalarString(b)
	if err != nil {
		return err
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Percent is a percentage such as "1%" or "0.5%"; a bare number means percent.
type Percent float64

// ParsePercent reads "1%", "0.5%" or "25".
func ParsePercent(s string) (Percent, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid percentage %q (want e.g. 1%% or 0.5%%)", s)
	}
	return Percent(f), nil
}

// Fraction returns the percentage as a fraction of one (1% -> 0.01).
func (p Percent) Fraction() float64 { return float64(p) / 100 }

func (p Percent) String() string { return strconv.FormatFloat(float64(p), 'f', -1, 64) + "%" }

func (p Percent) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

func (p *Percent) UnmarshalJSON(b []byte) error {
	s, err := scalarString(b)
	if err != nil {
		return err
	}
	v, err := ParsePercent(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// IntOrPercent is a count ("1") or a share of the replicas ("25%"), as
// Kubernetes' maxSurge and maxUnavailable are.
type IntOrPercent struct {
	Value   int
	Percent bool
}

// ParseIntOrPercent reads "2" or "25%".
func ParseIntOrPercent(s string) (IntOrPercent, error) {
	s = strings.TrimSpace(s)
	p, isPercent := strings.CutSuffix(s, "%")
	n, err := strconv.Atoi(strings.TrimSpace(p))
	if err != nil {
		return IntOrPercent{}, fmt.Errorf("invalid count or percentage %q (want e.g. 1 or 25%%)", s)
	}
	return IntOrPercent{Value: n, Percent: isPercent}, nil
}

// Resolve turns the value into a count of replicas; percentages round up
// when roundUp is set (maxSurge) and down otherwise (maxUnavailable).
func (v IntOrPercent) Resolve(replicas int, roundUp bool) int {
	if !v.Percent {
		return v.Value
	}
	if roundUp {
		return (v.Value*replicas + 99) / 100
	}
	return v.Value * replicas / 100
}

func (v IntOrPercent) String() string {
	if v.Percent {
		return strconv.Itoa(v.Value) + "%"
	}
	return strconv.Itoa(v.Value)
}

func (v IntOrPercent) MarshalJSON() ([]byte, error) {
	if v.Percent {
		return json.Marshal(v.String())
	}
	return json.Marshal(v.Value)
}

func (v *IntOrPercent) UnmarshalJSON(b []byte) error {
	s, err := scalarString(b)
	if err != nil {
		return err
	}
	r, err := ParseIntOrPercent(s)
	if err != nil {
		return err
	}
	*v = r
	return nil
}

// PortRef names a port of the service ("http") or gives its number (8080).
type PortRef struct {
	Name   string
	Number int
}

func (p PortRef) String() string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(p.Number)
}

// IsZero reports whether the reference is empty.
func (p PortRef) IsZero() bool { return p.Name == "" && p.Number == 0 }

func (p PortRef) MarshalJSON() ([]byte, error) {
	if p.Name != "" {
		return json.Marshal(p.Name)
	}
	return json.Marshal(p.Number)
}

func (p *PortRef) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		*p = PortRef{Number: n}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a port name or number")
	}
	if n, err := strconv.Atoi(s); err == nil {
		*p = PortRef{Number: n}
		return nil
	}
	*p = PortRef{Name: s}
	return nil
}

// Pause is how long a canary step waits: a duration, or "manual" for a
// person to promote.
type Pause struct {
	Duration Duration
	Manual   bool
}

func (p Pause) String() string {
	if p.Manual {
		return "manual"
	}
	return p.Duration.String()
}

func (p Pause) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

func (p *Pause) UnmarshalJSON(b []byte) error {
	s, err := scalarString(b)
	if err != nil {
		return err
	}
	if strings.TrimSpace(s) == "manual" {
		*p = Pause{Manual: true}
		return nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid pause %q (want a duration such as 30s, or manual)", s)
	}
	*p = Pause{Duration: d}
	return nil
}

// scalarString accepts a JSON string or number and returns its text.
func scalarString(b []byte) (string, error) {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("want a string or a number, got %s", string(b))
}
