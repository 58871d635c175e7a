package netbench

import "testing"

const wrkOutput = `Running 5s test @ http://127.200.1.2:8080/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.44ms    2.11ms  30.01ms   80.12%
    Req/Sec     9.45k     1.02k   11.80k    70.00%
  Latency Distribution
     50%    3.39ms
     75%    4.28ms
     90%    5.79ms
     99%   18.61ms
  94045 requests in 5.00s, 15.87MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  18808.45
Transfer/sec:      3.17MB
`

func TestParseWrkReadsRateQuantilesAndErrors(t *testing.T) {
	r, err := parseWrk("http://x/", wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	if r.RequestsPerS != 18808.45 || r.P50Ms != 3.39 || r.P99Ms != 18.61 || r.Errors != 12 || r.Requests != 94045 {
		t.Fatalf("parsed %+v", r)
	}
}

func TestParseWrkConvertsUnits(t *testing.T) {
	out := "     50%  850.00us\n     99%    1.20s\nRequests/sec:  10.5\n"
	r, err := parseWrk("http://x/", out)
	if err != nil {
		t.Fatal(err)
	}
	if r.P50Ms != 0.85 || r.P99Ms != 1200 {
		t.Fatalf("parsed %+v", r)
	}
	if _, err := parseWrk("http://x/", "connection refused"); err == nil {
		t.Fatal("parsed output without a rate")
	}
}
