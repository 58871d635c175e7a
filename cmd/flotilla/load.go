package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	miekg "github.com/miekg/dns"
	"github.com/spf13/cobra"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/sys/unix"

	"flotilla/api"
	"flotilla/network/loadgen"
)

// loadOptions are the flags of `flotilla load`.
type loadOptions struct {
	rate        float64
	profile     string
	period      time.Duration
	minRate     float64
	duration    time.Duration
	concurrency int
	timeout     time.Duration
	headers     []string
	method      string
	path        string
	namespace   string
	dns         string
	// Simulated visitors (--users).
	users         int
	userHeader    string
	checkoutRatio float64
	checkoutPath  string
	seed          uint64
}

// loadResult is what `flotilla load -o json` prints: the generator's
// summary plus how a SERVICE target was found.
type loadResult struct {
	loadgen.Summary
	// Service is NAMESPACE/NAME when the target was a service.
	Service string `json:"service,omitempty"`
	// DNS is what the cluster's DNS said of the service's name: "agrees"
	// with the API's VIP, or what went wrong; empty when no DNS server was
	// known.
	DNS string `json:"dns,omitempty"`
}

func newLoadCmd(g *globals) *cobra.Command {
	var o loadOptions
	cmd := &cobra.Command{
		Use:   "load URL|SERVICE",
		Short: "Send HTTP requests at a steady rate; report latency, errors, statuses and versions",
		Long: `Send HTTP requests at a steady rate (open loop: request i is due at start + i/rate,
whatever happened to the others; with --profile sine|square the rate moves
between --min-rate and --rate once every --period) and report requests, errors (5xx, timeouts,
failed connections, requests dropped at the concurrency limit), answers per
second, latency quantiles measured from each request's due time, status codes
and the versions that answered (the demo workload's JSON "version", else the
proxy's X-Flotilla-Revision header).

With --users N the requests are visits by N simulated visitors (--rate is
then visits per second): each keeps its own cookies (so a sticky variant
sticks) and, with --user-header, sends its id ("user-17"); it browses the
target and, in --checkout-ratio of its visits, then POSTs --checkout-path
on the same host. The summary adds visitors, visits, checkouts and
conversions (answers with the demo workload's X-Conversion header), by
version, and how many visitors were answered by more than one version.

The target is a URL (http://... or https://...) or a service: NAME,
NAME.NAMESPACE or NAME.NAMESPACE.svc.flotilla, optionally :PORT (a port name
or number; default the first http port). A service is loaded through its VIP,
read from the API; when a cluster DNS server is known (--dns,
$FLOTILLA_DNS_ADDR, $FLOTILLA_DNS_SERVER and $FLOTILLA_DNS_PORT, or
$FLOTILLA_DNS, as 'flotilla lab env' exports them) its
answer for the name is checked against the VIP.

The exit status is 0 when the run happened, whatever the errors (the summary
counts them); it is non-zero only when the run could not start.`,
		Example: `  flotilla load web --rate 200 --duration 30s
  flotilla load web.default:http --path /api -H 'X-Group: beta' -o json
  flotilla load http://127.64.0.1:8080/ --rate 50 --duration 10s
  flotilla load web --profile square --period 60s --min-rate 20 --rate 300 --duration 4m
  flotilla load web --users 4000 --user-header X-User-Id --checkout-ratio 0.3 --rate 100 --duration 2m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLoad(cmd, g, &o, args[0])
		},
	}
	f := cmd.Flags()
	f.Float64Var(&o.rate, "rate", 100, "requests per second (with --profile, the peak)")
	f.StringVar(&o.profile, "profile", "", "move the rate once every --period between --min-rate and --rate: sine, or square (min for the first half of each period, peak for the second)")
	f.DurationVar(&o.period, "period", time.Minute, "period of --profile")
	f.Float64Var(&o.minRate, "min-rate", 0, "lowest requests per second of --profile")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send requests for")
	f.IntVar(&o.concurrency, "concurrency", 0, "most requests in flight; one due beyond it is dropped and counted as an error (0: max(64, rate))")
	f.DurationVar(&o.timeout, "timeout", loadgen.DefaultTimeout, "per request, connecting and reading the body included")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "request header 'Name: value' (repeatable; 'Host: NAME' sets the Host)")
	f.StringVarP(&o.method, "method", "X", http.MethodGet, "request method")
	f.StringVar(&o.path, "path", "/", "request path and query for a SERVICE (replaces a URL's when given)")
	f.StringVarP(&o.namespace, "namespace", "n", api.DefaultNamespace, "namespace of a SERVICE named without one")
	f.StringVar(&o.dns, "dns", "", "cluster DNS server that checks a SERVICE's VIP, HOST:PORT (default $FLOTILLA_DNS_ADDR, then $FLOTILLA_DNS_SERVER:$FLOTILLA_DNS_PORT, then $FLOTILLA_DNS)")
	f.IntVar(&o.users, "users", 0, "simulate this many visitors, each with its own cookies, who browse and sometimes check out (0: plain requests)")
	f.StringVar(&o.userHeader, "user-header", "", "with --users: send each visitor's id in this header, e.g. X-User-Id")
	f.Float64Var(&o.checkoutRatio, "checkout-ratio", 0.3, "with --users: share of visits that end in a checkout")
	f.StringVar(&o.checkoutPath, "checkout-path", loadgen.DefaultCheckoutPath, "with --users: where a checkout is POSTed, on the target's host")
	f.Uint64Var(&o.seed, "seed", 0, "with --users: seed of who visits and who checks out, to replay a run (0: random)")
	return cmd
}

func runLoad(cmd *cobra.Command, g *globals, o *loadOptions, target string) error {
	if err := checkFormat(g.output); err != nil {
		return err
	}
	// Refuse bad flags, each error naming its flag, before asking the
	// cluster anything or sending a request.
	if err := checkLoadFlags(cmd, o); err != nil {
		return err
	}
	header, err := parseLoadHeaders(o.headers)
	if err != nil {
		return err
	}
	cfg := loadgen.Config{
		Method:      o.method,
		Headers:     header,
		Rate:        o.rate,
		Profile:     o.profile,
		Period:      o.period,
		MinRate:     o.minRate,
		Duration:    o.duration,
		Concurrency: o.concurrency,
		Timeout:     o.timeout,
	}
	loadUsers(o, &cfg)
	// What checkLoadFlags missed, in loadgen's words (the URL comes later;
	// any valid one stands in for it).
	check := cfg
	check.URL = "http://127.0.0.1/"
	if err := check.Validate(); err != nil {
		return err
	}
	t, err := resolveLoadTarget(cmd.Context(), g, o, target, cmd.Flags().Changed("path"))
	if err != nil {
		return err
	}
	for _, w := range t.warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
	}
	cfg.URL = t.url

	stderr := cmd.ErrOrStderr()
	live := g.output == "table" && loadIsTerminal(stderr)
	if live {
		cfg.Progress = func(s loadgen.Snapshot) {
			fmt.Fprintf(stderr, "\r%5.1fs  requests %d  errors %d  in flight %d  rps %.0f  p50 %s  p99 %s\033[K",
				s.Elapsed.Seconds(), s.Requests, s.Errors, s.InFlight, s.RPS, loadMs(s.P50Ms), loadMs(s.P99Ms))
		}
	}
	s, err := loadgen.Run(cmd.Context(), cfg)
	if live {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	res := loadResult{Summary: s, Service: t.service, DNS: t.dns}
	if g.output != "table" {
		return printObject(cmd.OutOrStdout(), g.output, res)
	}
	return printLoadSummary(cmd.OutOrStdout(), res)
}

// checkLoadFlags refuses the flags of `flotilla load` that cannot run,
// with one-line errors that name the flag: "--rate: must be above 0, got 0".
// It reads no environment and asks nothing of the cluster.
func checkLoadFlags(cmd *cobra.Command, o *loadOptions) error {
	switch {
	case !(o.rate > 0):
		return fmt.Errorf("--rate: must be above 0, got %g", o.rate)
	case math.IsInf(o.rate, 0):
		return fmt.Errorf("--rate: must be a finite number, got %g", o.rate)
	case o.duration <= 0:
		return fmt.Errorf("--duration: must be above 0, got %s", o.duration)
	case o.concurrency < 0:
		return fmt.Errorf("--concurrency: must be 0 or more, got %d", o.concurrency)
	case o.timeout < 0:
		return fmt.Errorf("--timeout: must be 0 or more, got %s", o.timeout)
	}
	switch o.profile {
	case "":
		for _, name := range []string{"period", "min-rate"} {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s: only with --profile", name)
			}
		}
	case loadgen.ProfileSine, loadgen.ProfileSquare:
		switch {
		case o.period <= 0:
			return fmt.Errorf("--period: must be above 0, got %s", o.period)
		case !(o.minRate >= 0 && o.minRate <= o.rate):
			return fmt.Errorf("--min-rate: must be between 0 and --rate (%g), got %g", o.rate, o.minRate)
		}
	default:
		return fmt.Errorf("--profile: must be %s or %s, got %q", loadgen.ProfileSine, loadgen.ProfileSquare, o.profile)
	}
	if _, err := http.NewRequest(o.method, "http://127.0.0.1/", nil); err != nil {
		return fmt.Errorf("--method: must be an HTTP method such as GET or POST, got %q", o.method)
	}
	if _, err := parseLoadHeaders(o.headers); err != nil {
		return err
	}
	if _, err := parseLoadPath(o.path); err != nil {
		return err
	}
	if err := api.ValidateName("--namespace", o.namespace); err != nil {
		return err
	}
	if _, ok := parseLoadDNSServer(o.dns); !ok {
		return loadDNSError("--dns", o.dns)
	}
	return checkLoadUsers(cmd, o)
}

// checkLoadUsers checks --users and the flags that go with it, which mean
// nothing without it.
func checkLoadUsers(cmd *cobra.Command, o *loadOptions) error {
	if o.users == 0 {
		for _, name := range []string{"user-header", "checkout-ratio", "checkout-path", "seed"} {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s: only with --users", name)
			}
		}
		return nil
	}
	switch {
	case o.users < 0 || o.users > loadgen.MaxUsers:
		return fmt.Errorf("--users: must be a number of visitors from 1 to %d, got %d", loadgen.MaxUsers, o.users)
	case !(o.checkoutRatio >= 0 && o.checkoutRatio <= 1):
		return fmt.Errorf("--checkout-ratio: must be between 0 and 1, got %g", o.checkoutRatio)
	case o.userHeader != "" && !httpguts.ValidHeaderFieldName(o.userHeader):
		return fmt.Errorf("--user-header: must be a header name such as X-User-Id, got %q", o.userHeader)
	}
	if o.checkoutPath != "" {
		if u, err := url.Parse(o.checkoutPath); err != nil || !strings.HasPrefix(o.checkoutPath, "/") || u.Host != "" {
			return fmt.Errorf("--checkout-path: must be an absolute path such as /checkout, got %q", o.checkoutPath)
		}
	}
	return nil
}

// loadUsers sets the visitor fields of cfg from --users and the flags that
// go with it (checkLoadUsers has checked them).
func loadUsers(o *loadOptions, cfg *loadgen.Config) {
	if o.users == 0 {
		return
	}
	cfg.Users, cfg.UserHeader, cfg.CheckoutRatio, cfg.CheckoutPath = o.users, o.userHeader, o.checkoutRatio, o.checkoutPath
	if o.seed != 0 {
		cfg.Rand = rand.NewPCG(o.seed, o.seed)
	}
}

// parseLoadHeaders reads -H 'Name: value' flags.
func parseLoadHeaders(flags []string) (http.Header, error) {
	h := http.Header{}
	for _, f := range flags {
		name, value, ok := strings.Cut(f, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("--header: must be 'Name: value', got %q", f)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

// loadTarget is where the requests go and how that was found.
type loadTarget struct {
	url      string
	service  string // NAMESPACE/NAME for a SERVICE target
	dns      string // loadResult.DNS
	warnings []string
}

// resolveLoadTarget turns a URL or a SERVICE into the URL to load: a
// service's VIP and port come from the API, and the cluster's DNS, when one
// is known, must agree with the VIP (a warning says so when it does not;
// the API's VIP is loaded either way).
func resolveLoadTarget(ctx context.Context, g *globals, o *loadOptions, target string, pathSet bool) (loadTarget, error) {
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		u, err := url.Parse(target)
		if err != nil || u.Host == "" {
			return loadTarget{}, fmt.Errorf("target %q: not a URL (want http://HOST[:PORT][/PATH])", target)
		}
		if pathSet {
			p, err := parseLoadPath(o.path)
			if err != nil {
				return loadTarget{}, err
			}
			u.Path, u.RawPath, u.RawQuery = p.Path, p.RawPath, p.RawQuery
		}
		return loadTarget{url: u.String()}, nil
	}

	if strings.Contains(target, "://") {
		return loadTarget{}, fmt.Errorf("target %q: only http:// and https:// URLs can be loaded", target)
	}
	ref, err := parseLoadService(target, o.namespace)
	if err != nil {
		return loadTarget{}, err
	}
	p, err := parseLoadPath(o.path)
	if err != nil {
		return loadTarget{}, err
	}
	dnsServer, err := loadDNSServer(o.dns)
	if err != nil {
		return loadTarget{}, err
	}
	c, err := g.client()
	if err != nil {
		return loadTarget{}, err
	}
	key := ref.namespace + "/" + ref.name
	svc, _, err := c.Service(ctx, ref.namespace, ref.name, api.QueryOptions{})
	switch {
	case errors.Is(err, api.ErrNotFound):
		return loadTarget{}, fmt.Errorf("load %s: no service %s", target, key)
	case err != nil:
		return loadTarget{}, fmt.Errorf("load %s: read service %s: %w", target, key, err)
	case svc.VIP == "":
		return loadTarget{}, fmt.Errorf("load %s: service %s is headless (no VIP); load one replica's address from 'flotilla get endpoints %s'", target, key, ref.name)
	}
	port, err := pickLoadPort(svc.Spec.Ports, ref.port)
	if err != nil {
		return loadTarget{}, fmt.Errorf("load %s: service %s: %w", target, key, err)
	}
	t := loadTarget{service: key}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(svc.VIP, strconv.Itoa(port.Port)), Path: p.Path, RawPath: p.RawPath, RawQuery: p.RawQuery}
	t.url = u.String()
	if dnsServer != "" {
		name := dnsName(ref.namespace, ref.name)
		answers, err := lookupLoadVIP(ctx, dnsServer, name)
		switch {
		case err != nil:
			t.dns = err.Error()
			t.warnings = append(t.warnings, fmt.Sprintf("%s; loading the API's VIP %s", err, svc.VIP))
		case slices.Contains(answers, svc.VIP):
			t.dns = "agrees"
		default:
			t.dns = fmt.Sprintf("DNS %s answers %s for %s, the API's VIP is %s", dnsServer, strings.Join(answers, ", "), name, svc.VIP)
			t.warnings = append(t.warnings, t.dns+"; loading the API's VIP (is the DNS server this cluster's?)")
		}
	}
	return t, nil
}

// loadService is a SERVICE target taken apart.
type loadService struct {
	name, namespace string
	port            string // a port name or number; "" for the first http port
}

// parseLoadService reads NAME, NAME.NAMESPACE or NAME.NAMESPACE.svc.flotilla,
// each optionally followed by :PORT.
func parseLoadService(target, defaultNamespace string) (loadService, error) {
	bad := func(why string) (loadService, error) {
		return loadService{}, fmt.Errorf("target %q: %s (want a URL, or SERVICE[.NAMESPACE[.svc.flotilla]][:PORT])", target, why)
	}
	host, port, hasPort := strings.Cut(target, ":")
	if hasPort && !validPortRef(port) {
		return bad(fmt.Sprintf("port %q is neither a port name nor a number", port))
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	full := strings.HasSuffix(host, ".svc.flotilla")
	labels := strings.Split(strings.TrimSuffix(host, ".svc.flotilla"), ".")
	ref := loadService{name: labels[0], namespace: defaultNamespace, port: port}
	switch {
	case len(labels) == 2:
		ref.namespace = labels[1]
	case full:
		return bad("a name in svc.flotilla has a namespace: NAME.NAMESPACE.svc.flotilla")
	case len(labels) > 2:
		return bad("too many dots")
	}
	if err := api.ValidateName("service", ref.name); err != nil {
		return bad(err.Error())
	}
	if err := api.ValidateName("namespace", ref.namespace); err != nil {
		return bad(err.Error())
	}
	return ref, nil
}

// validPortRef reports whether s can name a port: a port name or number.
func validPortRef(s string) bool {
	if _, err := strconv.Atoi(s); err == nil {
		return true
	}
	return api.ValidateName("port", s) == nil
}

// parseLoadPath reads --path: an absolute path, optionally with a query.
func parseLoadPath(p string) (*url.URL, error) {
	u, err := url.Parse(p)
	if err != nil || !strings.HasPrefix(p, "/") || u.Host != "" {
		return nil, fmt.Errorf("--path: must be an absolute path such as /api?x=1, got %q", p)
	}
	return u, nil
}

// pickLoadPort finds the port named (by name or number), or the first http
// port when none is.
func pickLoadPort(ports []api.Port, want string) (api.Port, error) {
	var names []string
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = api.ProtocolHTTP
		}
		names = append(names, fmt.Sprintf("%s %d/%s", p.Name, p.Port, proto))
		switch {
		case want == "" && proto == api.ProtocolHTTP,
			want != "" && (p.Name == want || strconv.Itoa(p.Port) == want):
			return p, nil
		}
	}
	switch {
	case len(ports) == 0:
		return api.Port{}, errors.New("it has no ports")
	case want == "":
		return api.Port{}, fmt.Errorf("no http port (ports: %s); name one as SERVICE:PORT", strings.Join(names, ", "))
	}
	return api.Port{}, fmt.Errorf("no port %q (ports: %s)", want, strings.Join(names, ", "))
}

// loadDNSServer is the DNS server to check a service's name with, as
// HOST:PORT: --dns, else $FLOTILLA_DNS_ADDR, else $FLOTILLA_DNS_SERVER and
// $FLOTILLA_DNS_PORT, else $FLOTILLA_DNS (which `lab env` writes for dig:
// "127.0.0.1 -p 4749"); "" when none is known.
func loadDNSServer(flag string) (string, error) {
	pair := ""
	if host := os.Getenv("FLOTILLA_DNS_SERVER"); host != "" {
		pair = host
		if port := os.Getenv("FLOTILLA_DNS_PORT"); port != "" {
			pair = net.JoinHostPort(host, port)
		}
	}
	for _, src := range []struct{ name, value string }{
		{"--dns", flag},
		{"$FLOTILLA_DNS_ADDR", os.Getenv("FLOTILLA_DNS_ADDR")},
		{"$FLOTILLA_DNS_SERVER and $FLOTILLA_DNS_PORT", pair},
		{"$FLOTILLA_DNS", os.Getenv("FLOTILLA_DNS")},
	} {
		server, ok := parseLoadDNSServer(src.value)
		switch {
		case !ok:
			return "", loadDNSError(src.name, src.value)
		case server != "":
			return server, nil
		}
	}
	return "", nil
}

// parseLoadDNSServer reads a DNS server as HOST:PORT, HOST or IP (port
// 53), @HOST..., or dig's "HOST -p PORT"; "" (and true) when value is
// empty.
func parseLoadDNSServer(value string) (string, bool) {
	v := strings.TrimPrefix(strings.TrimSpace(value), "@")
	fields := strings.Fields(v)
	switch {
	case v == "":
		return "", true
	case len(fields) == 3 && fields[1] == "-p":
		return net.JoinHostPort(fields[0], fields[2]), true
	case len(fields) != 1:
	case net.ParseIP(v) != nil:
		return net.JoinHostPort(v, "53"), true
	default:
		if _, _, err := net.SplitHostPort(v); err == nil {
			return v, true
		}
		if !strings.ContainsAny(v, ":[]") {
			return net.JoinHostPort(v, "53"), true
		}
	}
	return "", false
}

// loadDNSError says that source (--dns, or an environment variable) does
// not name a DNS server.
func loadDNSError(source, value string) error {
	return fmt.Errorf("%s: must be HOST:PORT (or dig's 'HOST -p PORT'), got %q", source, value)
}

// lookupLoadVIP asks server for name's A records.
func lookupLoadVIP(ctx context.Context, server, name string) ([]string, error) {
	m := new(miekg.Msg)
	m.SetQuestion(miekg.Fqdn(name), miekg.TypeA)
	c := &miekg.Client{Timeout: 2 * time.Second}
	in, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return nil, fmt.Errorf("ask DNS %s for %s: %w", server, name, err)
	}
	if in.Rcode != miekg.RcodeSuccess {
		return nil, fmt.Errorf("DNS %s answers %s for %s", server, miekg.RcodeToString[in.Rcode], name)
	}
	var out []string
	for _, rr := range in.Answer {
		if a, ok := rr.(*miekg.A); ok {
			out = append(out, a.A.String())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("DNS %s has no A record for %s", server, name)
	}
	return out, nil
}

// loadIsTerminal reports whether w is a terminal, where a progress line can be
// redrawn in place.
func loadIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func printLoadSummary(w io.Writer, r loadResult) error {
	target := r.Target
	switch {
	case r.Service != "" && r.DNS != "":
		target += fmt.Sprintf("   (service %s; DNS: %s)", r.Service, r.DNS)
	case r.Service != "":
		target += fmt.Sprintf("   (service %s)", r.Service)
	}
	fmt.Fprintf(w, "target     %s\n", target)
	sent := fmt.Sprintf("%d in %gs at %g/s", r.Requests, r.DurationS, r.Rate)
	if r.Users != nil {
		// The rate is of visits, each a page and perhaps a checkout.
		sent = fmt.Sprintf("%d in %gs at %g visits/s", r.Requests, r.DurationS, r.Rate)
	}
	if r.Interrupted {
		sent += " (interrupted)"
	}
	fmt.Fprintf(w, "requests   %s\n", sent)
	errs := strconv.FormatInt(r.Errors, 10)
	if r.Errors > 0 && r.Requests > 0 {
		errs += fmt.Sprintf(" (%.1f%%): %s", 100*float64(r.Errors)/float64(r.Requests), loadCounts(r.ErrorKinds, false))
	}
	fmt.Fprintf(w, "errors     %s\n", errs)
	for _, kind := range loadSortedKeys(r.ErrorSamples) {
		fmt.Fprintf(w, "           %s: %s\n", kind, r.ErrorSamples[kind])
	}
	fmt.Fprintf(w, "rps        %.1f\n", r.RPS)
	if len(r.Statuses) == 0 {
		fmt.Fprintf(w, "latency    - (no answers)\n")
	} else {
		fmt.Fprintf(w, "latency    p50 %s   p90 %s   p99 %s   max %s\n", loadMs(r.P50Ms), loadMs(r.P90Ms), loadMs(r.P99Ms), loadMs(r.MaxMs))
	}
	fmt.Fprintf(w, "statuses   %s\n", loadCounts(r.Statuses, false))
	_, err := fmt.Fprintf(w, "versions   %s\n", loadCounts(r.Versions, true))
	if r.Users != nil {
		err = printLoadUsers(w, r.Users)
	}
	return err
}

// printLoadUsers prints what the visitors of a --users run did.
func printLoadUsers(w io.Writer, u *loadgen.UsersSummary) error {
	fmt.Fprintf(w, "visitors   %d of %d visited; %d answered by more than one version\n", u.Visitors, u.Users, u.SwitchedVisitors)
	fmt.Fprintf(w, "visits     %d, %d checkouts, %d conversions (%s of checkouts), %d visitors converted (%s)\n",
		u.Visits, u.Checkouts, u.Conversions, loadShare(u.Conversions, u.Checkouts),
		u.ConvertedVisitors, loadShare(u.ConvertedVisitors, u.Visitors))
	label := "by version"
	var err error
	for _, v := range loadSortedKeys(u.ByVersion) {
		f := u.ByVersion[v]
		_, err = fmt.Fprintf(w, "%-10s %s: %d visitors, %d checkouts, %d conversions (%s), %d visitors converted (%s)\n",
			label, v, f.Visitors, f.Checkouts, f.Conversions, loadShare(f.Conversions, f.Checkouts),
			f.ConvertedVisitors, loadShare(f.ConvertedVisitors, f.Visitors))
		label = ""
	}
	return err
}

// loadShare prints n/of as a percentage, "-" when of is 0.
func loadShare(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(n)/float64(of), 'f', 1, 64) + "%"
}

// loadCounts prints "k: n, k: n": by key, or by count (largest first).
func loadCounts(m map[string]int64, byCount bool) string {
	if len(m) == 0 {
		return "-"
	}
	keys := loadSortedKeys(m)
	if byCount {
		slices.SortStableFunc(keys, func(a, b string) int { return int(m[b] - m[a]) })
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func loadSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// loadMs prints milliseconds with three significant digits or so.
func loadMs(v float64) string {
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64) + "ms"
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + "ms"
}
