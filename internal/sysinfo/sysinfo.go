// Package sysinfo describes this machine and process for benchmark
// records: what the figures were measured on.
package sysinfo

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine is "N cores MODEL, GOVERSION OS/ARCH".
func Machine() string {
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d cores %s, %s %s/%s", runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// PeakRSSMiB is this process's high-water resident set (Linux; 0 elsewhere).
func PeakRSSMiB() float64 { return peakRSSMiB("/proc/self/status") }

// PeakRSSMiBOf is a process's high-water resident set (Linux; 0 when it
// cannot be read, e.g. the process is gone).
func PeakRSSMiBOf(pid int) float64 { return peakRSSMiB(fmt.Sprintf("/proc/%d/status", pid)) }

// peakRSSMiB reads VmHWM from a /proc/.../status file.
func peakRSSMiB(status string) float64 {
	data, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times (100 on
// every Linux this runs on).
const clockTicks = 100

// CPUSecondsOf is the CPU time a process has used so far, user and system
// (Linux; 0 when it cannot be read).
func CPUSecondsOf(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis (state is field 3, utime 14).
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks
}

// LoadAverage is the machine's 1, 5 and 15 minute load averages as
// /proc/loadavg gives them ("" elsewhere).
func LoadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
