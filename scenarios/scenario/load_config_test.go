package scenario

import (
	"testing"
	"time"

	"flotilla/api"
	"flotilla/network/loadgen"
)

// A story's load may have as many requests in flight as are due within
// one request's timeout: a slow lab answers late, and nothing is dropped
// on the load's side before the cluster could answer.
func TestAStorysLoadDropsNothingBeforeItsTimeout(t *testing.T) {
	for _, tc := range []struct {
		step LoadStep
		want int
	}{
		{LoadStep{Rate: 300}, 300 * int(loadgen.DefaultTimeout/time.Second)},
		{LoadStep{Rate: 300, Timeout: api.Duration(2 * time.Second)}, 600},
		{LoadStep{Rate: 2, Timeout: api.Duration(time.Second)}, loadgen.MinDefaultConcurrency},
		{LoadStep{Rate: 250, Users: 4000}, 250 * int(loadgen.DefaultTimeout/time.Second)},
	} {
		cfg := tc.step.config("http://127.0.0.1/")
		if cfg.Concurrency != tc.want {
			t.Errorf("rate %v, timeout %s: concurrency %d, want %d", tc.step.Rate, tc.step.Timeout, cfg.Concurrency, tc.want)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("rate %v: %v", tc.step.Rate, err)
		}
	}
}
