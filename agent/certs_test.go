package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/runtime"
	"flotilla/security/pki"
)

// certServers is the fake control plane with a workload CA: it signs a
// CSR's key for the names of the allocation's spec, on the test's clock.
type certServers struct {
	*fakeServers
	clock *clock.Fake
	ca    *pki.CA

	mu sync.Mutex
	// fail makes the next issuances fail.
	fail   int
	issued int
}

func (c *certServers) IssueCertificate(ctx context.Context, node, id, name string, csrPEM []byte) (*api.IssuedCertificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail > 0 {
		c.fail--
		return nil, fmt.Errorf("issue: %w", api.ErrNoLeader)
	}
	var spec *api.CertificateSpec
	for _, a := range c.fakeServers.allocs {
		if a.ID == id {
			r, err := c.fakeServers.Revision(ctx, a.Namespace, a.Service, a.Revision)
			if err != nil {
				return nil, err
			}
			spec = r.Spec.Certificate(name)
		}
	}
	if spec == nil {
		return nil, fmt.Errorf("no certificate %s of %s: %w", name, id, api.ErrNotFound)
	}
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	cert, certPEM, err := c.ca.Sign(csr.PublicKey, pki.LeafRequest{DNSNames: spec.DNSNames, ServerAuth: true, ClientAuth: true, Lifetime: spec.Lifetime.Std()}, c.clock.Now())
	if err != nil {
		return nil, err
	}
	c.issued++
	return &api.IssuedCertificate{Certificate: string(certPEM), CA: string(c.ca.CertPEM), DNSNames: cert.DNSNames, NotAfter: cert.NotAfter}, nil
}

// AllocationFiles answers config "app" for any allocation.
func (c *certServers) AllocationFiles(ctx context.Context, node, id string) (*api.AllocationFiles, error) {
	return &api.AllocationFiles{Allocation: id, Objects: []api.FileObject{{Kind: api.KindConfig, Name: "app", Namespace: "default",
		ModifyIndex: 1, Data: map[string]string{"app.yaml": "color: blue"}}}}, nil
}

func (c *certServers) issuedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.issued
}

func (c *certServers) events(typ string) []api.AllocEvent {
	c.fakeServers.mu.Lock()
	defer c.fakeServers.mu.Unlock()
	var out []api.AllocEvent
	for _, b := range c.fakeServers.batches {
		for _, e := range b.Events {
			if e.Type == typ {
				out = append(out, e)
			}
		}
	}
	return out
}

// mountingRuntime is the null runtime with the files of its containers
// and the signals they got (a runtime.Reloader).
type mountingRuntime struct {
	*NullRuntime
	mu      sync.Mutex
	files   map[string]map[string][]byte // container -> path -> content
	secret  map[string]map[string]bool
	signals map[string][]syscall.Signal
}

func newMountingRuntime() *mountingRuntime {
	r := &mountingRuntime{NullRuntime: NewNullRuntime(), files: map[string]map[string][]byte{},
		secret: map[string]map[string]bool{}, signals: map[string][]syscall.Signal{}}
	r.CreateFn = func(spec runtime.ContainerSpec) error {
		r.setMounts(spec.ID, spec.Mounts)
		return nil
	}
	return r
}

func (r *mountingRuntime) setMounts(id string, mounts []runtime.FileMount) {
	files, secret := runtime.MountedFiles(mounts)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[id], r.secret[id] = files, secret
}

func (r *mountingRuntime) UpdateMounts(ctx context.Context, id string, mounts []runtime.FileMount) error {
	if _, err := r.Status(ctx, id); err != nil {
		return err
	}
	r.setMounts(id, mounts)
	return nil
}

func (r *mountingRuntime) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signals[id] = append(r.signals[id], sig)
	return nil
}

func (r *mountingRuntime) file(id, path string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.files[id][path], r.secret[id][path]
}

func (r *mountingRuntime) paths(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for p := range maps.Keys(r.files[id]) {
		out = append(out, p)
	}
	return out
}

func (r *mountingRuntime) sent(id string) []syscall.Signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]syscall.Signal(nil), r.signals[id]...)
}

// startCertAgent starts an agent whose servers sign certificates with a
// CA on the agent's own fake clock.
func startCertAgent(t *testing.T, spec string) (*testAgent, *certServers, *mountingRuntime) {
	t.Helper()
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ca, err := pki.NewCA(pki.CAOptions{}, fake.Now())
	if err != nil {
		t.Fatal(err)
	}
	servers := &certServers{fakeServers: newFakeServers(), clock: fake, ca: ca}
	servers.setRevision("default", "web", 1, specFor(t, spec))
	servers.setAllocs(desired("a1"))
	rt := newMountingRuntime()
	ta := runCertAgent(t, t.TempDir(), servers, rt)
	ta.until("a1 running", ta.reported("a1", api.AllocRunning))
	return ta, servers, rt
}

// runCertAgent starts an agent on the servers' clock.
func runCertAgent(t *testing.T, dataDir string, servers *certServers, rt *mountingRuntime) *testAgent {
	t.Helper()
	return runTestAgent(t, Config{DataDir: dataDir, Clock: servers.clock}, servers, servers.fakeServers, rt, rt.NullRuntime)
}

// mounted is the certificate the container sees under /etc/tls, checked
// against the CA for the service's name at now, its key matching it.
func mounted(t *testing.T, rt *mountingRuntime, ca *pki.CA, now time.Time) *x509.Certificate {
	t.Helper()
	certPEM, secretCert := rt.file("a1", "/etc/tls/tls.crt")
	keyPEM, secretKey := rt.file("a1", "/etc/tls/tls.key")
	caPEM, _ := rt.file("a1", "/etc/tls/ca.crt")
	if len(certPEM) == 0 || len(keyPEM) == 0 || string(caPEM) != string(ca.CertPEM) {
		t.Fatalf("files of a1: %v", rt.paths("a1"))
	}
	if !secretCert || !secretKey {
		t.Fatal("the certificate's files are not mounted as secrets (mode 0400, tmpfs)")
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("tls.key does not go with tls.crt: %v", err)
	}
	cert, err := pki.ParseCertificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Verify(cert, "web.default.svc.flotilla", x509.ExtKeyUsageServerAuth, now); err != nil {
		t.Fatalf("tls.crt does not verify for web.default.svc.flotilla at %s: %v", now, err)
	}
	return cert
}

func TestCertificateIsRenewedAtTwoThirdsOfItsLifetimeAndTheContainerSignalled(t *testing.T) {
	ta, servers, rt := startCertAgent(t, "certificates: [{name: tls, path: /etc/tls, lifetime: 3h}]\n")
	first := mounted(t, rt, servers.ca, ta.clock.Now())
	firstKey, _ := rt.file("a1", "/etc/tls/tls.key")
	if life := first.NotAfter.Sub(ta.clock.Now()); life < 2*time.Hour+59*time.Minute || life > 3*time.Hour {
		t.Fatalf("lifetime %s, want 3h", life)
	}

	// Just before two thirds (2h): still the first.
	ta.clock.Advance(time.Hour + 59*time.Minute)
	ta.until("the agent idle", func() bool { return ta.agent.queue.Len() == 0 })
	if c := mounted(t, rt, servers.ca, ta.clock.Now()); c.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("renewed at %s, before two thirds of the lifetime", ta.clock.Now())
	}
	if len(rt.sent("a1")) != 0 {
		t.Fatal("signalled before any renewal")
	}

	// Past it: a new certificate, with a new key, in place before the
	// first expires.
	ta.clock.Advance(2 * time.Minute)
	var renewed *x509.Certificate
	ta.until("a renewed certificate", func() bool {
		if data, _ := rt.file("a1", "/etc/tls/tls.crt"); len(data) > 0 {
			c, err := pki.ParseCertificate(data)
			if err == nil && c.SerialNumber.Cmp(first.SerialNumber) != 0 {
				renewed = c
				return true
			}
		}
		return false
	})
	at := ta.clock.Now()
	if !at.Before(first.NotAfter) {
		t.Fatalf("renewed at %s, after the first expired at %s", at, first.NotAfter)
	}
	renewed = mounted(t, rt, servers.ca, at)
	if !renewed.NotAfter.After(first.NotAfter) {
		t.Fatalf("the renewed certificate ends %s, not after the first's %s", renewed.NotAfter, first.NotAfter)
	}
	if key, _ := rt.file("a1", "/etc/tls/tls.key"); string(key) == string(firstKey) {
		t.Fatal("the renewal kept the old key")
	}
	ta.until("SIGHUP sent", func() bool { return len(rt.sent("a1")) == 1 })
	if got := rt.sent("a1"); got[0] != syscall.SIGHUP {
		t.Fatalf("signals %v, want SIGHUP", got)
	}
	ta.until("a CertificateRenewed event", func() bool { return len(servers.events(api.EventCertificateRenewed)) == 1 })
	if rt.Calls("Stop") != 0 || servers.status("a1").Restarts != 0 {
		t.Fatal("a signal reload restarted the container")
	}

	// And again at two thirds of the second.
	ta.clock.Advance(renewed.NotAfter.Sub(at) * 2 / 3)
	ta.until("a second renewal", func() bool { return servers.issuedCount() == 3 })
	mounted(t, rt, servers.ca, ta.clock.Now())
}

func TestAFailedRenewalIsRetriedWithBackoffAndReported(t *testing.T) {
	ta, servers, rt := startCertAgent(t, "certificates: [{name: tls, path: /etc/tls, lifetime: 3h, reload: restart}]\n")
	first := mounted(t, rt, servers.ca, ta.clock.Now())
	servers.mu.Lock()
	servers.fail = 2
	servers.mu.Unlock()
	ta.clock.Advance(2*time.Hour + time.Second)
	ta.until("two failures reported", func() bool { return len(servers.events(api.EventCertificateRenewFailed)) == 2 })
	failed := servers.events(api.EventCertificateRenewFailed)
	for i, e := range failed {
		if !strings.Contains(e.Message, "renewing certificate tls under /etc/tls failed") || !strings.Contains(e.Message, "it expires in") ||
			!strings.Contains(e.Message, fmt.Sprintf("%d in a row", i+1)) {
			t.Fatalf("failure event %q", e.Message)
		}
	}
	// The second came after the backoff, not at once.
	if gap := failed[1].Time.Sub(failed[0].Time); gap < renewRetryBase {
		t.Fatalf("retried after %s, want a backoff of %s", gap, renewRetryBase)
	}
	ta.until("renewed at last", func() bool {
		data, _ := rt.file("a1", "/etc/tls/tls.crt")
		c, err := pki.ParseCertificate(data)
		return err == nil && c.SerialNumber.Cmp(first.SerialNumber) != 0
	})
	mounted(t, rt, servers.ca, ta.clock.Now())
	// reload: restart restarts the container in place, not counted as a
	// failure's restart.
	ta.until("restarted in place", func() bool { return rt.Calls("Stop") == 1 && rt.Calls("Start") == 2 })
	ta.until("running again", ta.reported("a1", api.AllocRunning))
	if u := servers.status("a1"); u.Restarts != 0 || rt.Calls("Create") != 1 {
		t.Fatalf("after the restart: %+v, %d creates", u, rt.Calls("Create"))
	}
	if len(rt.sent("a1")) != 0 {
		t.Fatal("reload: restart sent a signal")
	}
}

func TestAnAllocationWaitsForItsCertificate(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ca, err := pki.NewCA(pki.CAOptions{}, fake.Now())
	if err != nil {
		t.Fatal(err)
	}
	servers := &certServers{fakeServers: newFakeServers(), clock: fake, ca: ca, fail: 3}
	servers.setRevision("default", "web", 1, specFor(t, "certificates: [{name: tls, path: /etc/tls}]\n"))
	servers.setAllocs(desired("a1"))
	rt := newMountingRuntime()
	ta := runCertAgent(t, "", servers, rt)
	ta.until("a1 says it waits for its certificate", func() bool {
		u := servers.status("a1")
		return u.Status == api.AllocPending && strings.Contains(u.Message, "waiting for certificate tls of a1")
	})
	if rt.Calls("Create") != 0 {
		t.Fatal("the container was made without its certificate")
	}
	ta.until("a1 running once the servers sign", ta.reported("a1", api.AllocRunning))
	mounted(t, rt, ca, fake.Now())
}

// An agent keeps keys in memory only: restarted, it gives the containers
// it adopts (containerd's outlive it) new certificates at once.
func TestARestartedAgentGivesAdoptedContainersNewCertificates(t *testing.T) {
	ta, servers, rt := startCertAgent(t, "configs: [{name: app, path: /etc/app}]\ncertificates: [{name: tls, path: /etc/tls}]\n")
	first := mounted(t, rt, servers.ca, servers.clock.Now())
	if data, _ := rt.file("a1", "/etc/app/app.yaml"); string(data) != "color: blue" {
		t.Fatalf("config file %q", data)
	}
	ta.stop()
	second := runCertAgent(t, ta.agent.cfg.DataDir, servers, rt)
	second.until("a new certificate for the adopted container", func() bool {
		data, _ := rt.file("a1", "/etc/tls/tls.crt")
		c, err := pki.ParseCertificate(data)
		return err == nil && c.SerialNumber.Cmp(first.SerialNumber) != 0
	})
	mounted(t, rt, servers.ca, servers.clock.Now())
	if data, _ := rt.file("a1", "/etc/app/app.yaml"); string(data) != "color: blue" {
		t.Fatalf("the config's file after the rewrite: %q", data)
	}
	if rt.Calls("Create") != 1 || rt.Calls("Start") != 1 {
		t.Fatalf("%d creates, %d starts: the adopted container was made again", rt.Calls("Create"), rt.Calls("Start"))
	}
}
