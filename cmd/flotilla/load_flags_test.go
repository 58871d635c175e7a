package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"flotilla/api"
)

// Each bad flag of `flotilla load` is refused in one line that names it,
// before the cluster is asked anything or a request is sent, for a SERVICE
// target as for a URL.
func TestLoadFlagErrorsNameTheFlag(t *testing.T) {
	for _, env := range []string{"FLOTILLA_DNS_ADDR", "FLOTILLA_DNS", "FLOTILLA_DNS_SERVER", "FLOTILLA_DNS_PORT"} {
		t.Setenv(env, "")
	}
	var asked atomic.Int64
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.WriteHeader(http.StatusTeapot)
	})
	apiSrv := httptest.NewServer(count)
	t.Cleanup(apiSrv.Close)
	target := httptest.NewServer(count)
	t.Cleanup(target.Close)
	t.Setenv(api.AddressEnv, apiSrv.URL)

	for _, tc := range []struct {
		args []string
		flag string // the error starts "--flag: "
		want string // and reads so
	}{
		{[]string{"--rate", "0"}, "rate", "--rate: must be above 0, got 0"},
		{[]string{"--rate", "-5"}, "rate", "--rate: must be above 0, got -5"},
		{[]string{"--rate", "NaN"}, "rate", "--rate: must be above 0, got NaN"},
		{[]string{"--rate", "Inf"}, "rate", "--rate: must be a finite number, got +Inf"},
		{[]string{"--duration", "0s"}, "duration", "--duration: must be above 0, got 0s"},
		{[]string{"--duration", "-1s"}, "duration", "--duration: must be above 0, got -1s"},
		{[]string{"--concurrency", "-1"}, "concurrency", "--concurrency: must be 0 or more, got -1"},
		{[]string{"--timeout", "-1s"}, "timeout", "--timeout: must be 0 or more, got -1s"},
		{[]string{"--profile", "saw"}, "profile", `--profile: must be sine or square, got "saw"`},
		{[]string{"--profile", "sine", "--period", "0s"}, "period", "--period: must be above 0, got 0s"},
		{[]string{"--profile", "square", "--min-rate", "500", "--rate", "100"}, "min-rate", "--min-rate: must be between 0 and --rate (100), got 500"},
		{[]string{"--profile", "square", "--min-rate", "-1"}, "min-rate", "--min-rate: must be between 0 and --rate (100), got -1"},
		{[]string{"-X", "GE T"}, "method", `--method: must be an HTTP method such as GET or POST, got "GE T"`},
		{[]string{"-H", "nocolon"}, "header", `--header: must be 'Name: value', got "nocolon"`},
		{[]string{"-H", "Bad Name: x"}, "header", `--header: must be 'Name: value', got "Bad Name: x"`},
		{[]string{"--path", "svc"}, "path", `--path: must be an absolute path such as /api?x=1, got "svc"`},
		{[]string{"-n", "Bad_NS"}, "namespace", `--namespace: invalid name "Bad_NS"`},
		{[]string{"--dns", "a b"}, "dns", `--dns: must be HOST:PORT (or dig's 'HOST -p PORT'), got "a b"`},
		{[]string{"--users", "-3"}, "users", "--users: must be a number of visitors from 1 to 1000000, got -3"},
		{[]string{"--users", "1000001"}, "users", "--users: must be a number of visitors from 1 to 1000000, got 1000001"},
		{[]string{"--users", "3", "--checkout-ratio", "2"}, "checkout-ratio", "--checkout-ratio: must be between 0 and 1, got 2"},
		{[]string{"--users", "3", "--user-header", "X User"}, "user-header", `--user-header: must be a header name such as X-User-Id, got "X User"`},
		{[]string{"--users", "3", "--checkout-path", "buy"}, "checkout-path", `--checkout-path: must be an absolute path such as /checkout, got "buy"`},
		{[]string{"--checkout-ratio", "0.5"}, "checkout-ratio", "--checkout-ratio: only with --users"},
		{[]string{"--seed", "3"}, "seed", "--seed: only with --users"},
		{[]string{"--period", "10s"}, "period", "--period: only with --profile"},
		{[]string{"--min-rate", "5"}, "min-rate", "--min-rate: only with --profile"},
		{[]string{"-o", "xml"}, "output", "--output: unknown format"},
	} {
		for _, to := range []string{"web", target.URL} {
			args := append([]string{"load", to, "--duration", "1s"}, tc.args...)
			_, _, err := runFlotilla(t, args...)
			switch {
			case err == nil:
				t.Errorf("%v: no error", args)
			case !strings.HasPrefix(err.Error(), "--"+tc.flag+": ") || !strings.Contains(err.Error(), tc.want):
				t.Errorf("%v: error %q, want %q", args, err, tc.want)
			case strings.ContainsAny(err.Error(), "\n\r"):
				t.Errorf("%v: error %q is not one line", args, err)
			}
		}
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("bad flags made %d requests", n)
	}
}

// An environment variable that names no DNS server is named in its error
// (it is read only for a SERVICE target: the cluster is not asked).
func TestLoadDNSEnvErrorNamesTheVariable(t *testing.T) {
	for _, env := range []string{"FLOTILLA_DNS_ADDR", "FLOTILLA_DNS", "FLOTILLA_DNS_SERVER", "FLOTILLA_DNS_PORT"} {
		t.Setenv(env, "")
	}
	t.Setenv("FLOTILLA_DNS_ADDR", "a b c")
	_, err := loadDNSServer("")
	if want := `$FLOTILLA_DNS_ADDR: must be HOST:PORT (or dig's 'HOST -p PORT'), got "a b c"`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	t.Setenv("FLOTILLA_DNS_ADDR", "")
	if got, err := loadDNSServer("@"); err != nil || got != "" {
		t.Errorf(`--dns "@": %q %v, want none`, got, err)
	}
}
