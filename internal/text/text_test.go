package text

import "testing"

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 replicas"}, {1, "1 replica"}, {2, "2 replicas"}, {-1, "-1 replicas"}} {
		if got := Count(tc.n, "replica"); got != tc.want {
			t.Errorf("Count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
