package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/runtime"
	"flotilla/security/pki"
)

// Certificates of replicas (api/certs.go). For each certificate of an
// allocation's spec the agent makes a key, here, and sends the servers
// only a CSR; they answer a certificate of the workload CA for the
// spec's names. Key, certificate and CA go into the container as a
// secret mount (mode 0400; a tmpfs on containerd): the key is never
// written elsewhere, and the agent keeps it in memory only (an agent
// restarted gets new certificates for the containers it adopts).
//
// At two thirds of a certificate's lifetime, on the agent's clock, the
// agent makes a new key and gets a new certificate, rewrites the files in
// place and reloads the container as the spec says (a signal, default
// SIGHUP, or a restart). A renewal that fails is retried with backoff,
// each failure logged and reported as an event naming when the
// certificate expires. Renewals carry no jitter: they follow each
// replica's own start, which already spreads them.

// CertServers is what the agent needs for certificates; *api.Client
// provides it.
type CertServers interface {
	IssueCertificate(ctx context.Context, node, id, cert string, csrPEM []byte) (*api.IssuedCertificate, error)
}

// Renewal timing: at renewFraction of the lifetime; failures retry after
// renewRetryBase, doubling up to renewRetryMax.
const (
	renewFraction  = 2.0 / 3.0
	renewRetryBase = 5 * time.Second
	renewRetryMax  = 5 * time.Minute
)

// replicaCert is one certificate the agent holds for an allocation.
type replicaCert struct {
	spec                   api.CertificateSpec
	certPEM, keyPEM, caPEM []byte
	notAfter, renewAt      time.Time
	// failures counts failed renewals in a row; retryAt is when the
	// next is tried.
	failures int
	retryAt  time.Time
}

// mount is the certificate's files as the container sees them.
func (c *replicaCert) mount() runtime.FileMount {
	return runtime.FileMount{Path: c.spec.Path, Secret: true, Files: map[string][]byte{
		api.CertFileName: c.certPEM, api.KeyFileName: c.keyPEM, api.CAFileName: c.caPEM,
	}}
}

// due is when the certificate needs the agent next.
func (c *replicaCert) due() time.Time {
	if c.failures > 0 {
		return c.retryAt
	}
	return c.renewAt
}

// allocCerts is what the agent holds for one allocation's certificates.
type allocCerts struct {
	certs []*replicaCert // in the spec's order
	// files are the configs' and secrets' mounts last written, which
	// every rewrite of the container's mounts repeats.
	files []runtime.FileMount
	// timerAt is the renewal check queued last (one timer per due time).
	timerAt time.Time
}

func (c *allocCerts) mounts() []runtime.FileMount {
	out := slices.Clone(c.files)
	for _, rc := range c.certs {
		out = append(out, rc.mount())
	}
	return out
}

// issue makes a key and a CSR and gets a certificate for them.
func (a *Agent) issue(ctx context.Context, d *api.Allocation, spec api.CertificateSpec) (*replicaCert, error) {
	cs, ok := a.servers.(CertServers)
	if !ok {
		return nil, fmt.Errorf("this agent's servers client cannot request certificates: %w", runtime.ErrInvalidSpec)
	}
	keyPEM, csrPEM, err := pki.NewKeyAndCSR(api.ServiceDNSName(d.Service, d.Namespace))
	if err != nil {
		return nil, err
	}
	now := a.cfg.Clock.Now()
	call, cancel := clock.WithTimeout(ctx, a.cfg.Clock, 10*time.Second)
	got, err := cs.IssueCertificate(call, a.cfg.Name, d.ID, spec.Name, csrPEM)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("certificate %s of %s: %w", spec.Name, d.ID, err)
	}
	cert, err := pki.ParseCertificate([]byte(got.Certificate))
	if err != nil {
		return nil, fmt.Errorf("certificate %s of %s: the servers answered: %w", spec.Name, d.ID, err)
	}
	// Renew by this node's clock: from now, not from the server's
	// NotBefore, so that a skew between them moves nothing.
	life := cert.NotAfter.Sub(now)
	return &replicaCert{spec: spec, certPEM: []byte(got.Certificate), keyPEM: keyPEM, caPEM: []byte(got.CA),
		notAfter: cert.NotAfter, renewAt: now.Add(time.Duration(float64(life) * renewFraction))}, nil
}

// withCertificates adds an allocation's certificates to its container
// spec before it starts (after withFiles). ready is false when one could
// not be had: the allocation says why and is tried again.
func (a *Agent) withCertificates(ctx context.Context, d *api.Allocation, svc *api.ServiceSpec, l *localAlloc, spec *runtime.ContainerSpec) (ready bool, err error) {
	if len(svc.Certificates) == 0 || a.cfg.Runtime == "fake" { // fake nodes run nothing to mount into
		a.forgetCertificates(d.ID)
		return true, nil
	}
	held, err := a.issueAll(ctx, d, svc, spec.Mounts)
	if errors.Is(err, runtime.ErrInvalidSpec) {
		return false, err
	}
	if err != nil {
		status := api.AllocPending
		if l.Started {
			status = api.AllocStarting
		}
		a.report(d.ID, status, "waiting for "+err.Error(), nil, l.Restarts)
		return false, err
	}
	spec.Mounts = held.mounts()
	return true, nil
}

// issueAll gets every certificate of an allocation's spec and holds them,
// with files, the configs' and secrets' mounts they go with.
func (a *Agent) issueAll(ctx context.Context, d *api.Allocation, svc *api.ServiceSpec, files []runtime.FileMount) (*allocCerts, error) {
	held := &allocCerts{files: slices.Clone(files)}
	for _, cs := range svc.Certificates {
		rc, err := a.issue(ctx, d, cs)
		if err != nil {
			return nil, err
		}
		held.certs = append(held.certs, rc)
	}
	a.mu.Lock()
	if a.certs == nil {
		a.certs = map[string]*allocCerts{}
	}
	a.certs[d.ID] = held
	a.mu.Unlock()
	a.scheduleRenewal(d.ID)
	return held, nil
}

// forgetCertificates drops what the agent holds for an allocation.
func (a *Agent) forgetCertificates(id string) {
	a.mu.Lock()
	delete(a.certs, id)
	a.mu.Unlock()
}

// certificateMounts are the mounts of an allocation's certificates, to
// write along with its configs' and secrets' (files.go); it records
// files as those.
func (a *Agent) certificateMounts(id string, files []runtime.FileMount) []runtime.FileMount {
	a.mu.Lock()
	defer a.mu.Unlock()
	held := a.certs[id]
	if held == nil {
		return files
	}
	held.files = slices.Clone(files)
	return held.mounts()
}

// scheduleRenewal queues the allocation when its earliest certificate is
// due, once per due time.
func (a *Agent) scheduleRenewal(id string) {
	a.mu.Lock()
	held := a.certs[id]
	if held == nil || len(held.certs) == 0 {
		a.mu.Unlock()
		return
	}
	next := held.certs[0].due()
	for _, rc := range held.certs[1:] {
		if t := rc.due(); t.Before(next) {
			next = t
		}
	}
	if next.Equal(held.timerAt) {
		a.mu.Unlock()
		return
	}
	held.timerAt = next
	a.mu.Unlock()
	a.queue.AddAfter(id, next.Sub(a.cfg.Clock.Now()))
}

// renewCertificates renews a running allocation's certificates that are
// due and reloads the container. A container the agent holds none for
// (adopted after the agent restarted) gets new ones at once. A failed
// renewal is logged, reported and retried later; it is no error of the
// reconcile.
func (a *Agent) renewCertificates(ctx context.Context, d *api.Allocation, l *localAlloc) error {
	_, svc, err := a.containerSpec(ctx, d)
	if err != nil || len(svc.Certificates) == 0 {
		return err
	}
	reloader, ok := a.rt.(runtime.Reloader)
	if !ok {
		return nil // such a runtime (the fake nodes') mounts nothing
	}
	now := a.cfg.Clock.Now()
	a.mu.Lock()
	held := a.certs[d.ID]
	var due []int
	if held != nil {
		for i, rc := range held.certs {
			if !now.Before(rc.due()) {
				due = append(due, i)
			}
		}
	}
	a.mu.Unlock()
	if held == nil {
		return a.readoptCertificates(ctx, d, svc, reloader)
	}
	if len(due) == 0 {
		a.scheduleRenewal(d.ID)
		return nil
	}
	var renewed []*replicaCert
	for _, i := range due {
		old := held.certs[i]
		rc, err := a.issue(ctx, d, old.spec)
		if err != nil {
			a.renewFailed(d, old, err, now)
			continue
		}
		renewed = append(renewed, rc)
		a.mu.Lock()
		held.certs[i] = rc
		a.mu.Unlock()
	}
	if len(renewed) > 0 {
		a.mu.Lock()
		mounts := held.mounts()
		a.mu.Unlock()
		if err := reloader.UpdateMounts(ctx, d.ID, mounts); err != nil {
			return fmt.Errorf("rewrite the certificates of %s: %w", d.ID, err)
		}
		if err := a.reloadForCertificates(ctx, d, l, reloader, renewed); err != nil {
			return err
		}
	}
	a.scheduleRenewal(d.ID)
	return nil
}

// readoptCertificates gives a running container the agent holds no
// certificates for (it restarted) new ones, with its configs and
// secrets as they are now.
func (a *Agent) readoptCertificates(ctx context.Context, d *api.Allocation, svc *api.ServiceSpec, reloader runtime.Reloader) error {
	var files []runtime.FileMount
	if usesFiles(svc) {
		mounts, _, waiting, err := a.fileMounts(ctx, d, svc)
		if err != nil {
			return err
		}
		if waiting != "" {
			return fmt.Errorf("certificates of %s: %s", d.ID, waiting)
		}
		files = mounts
	}
	held, err := a.issueAll(ctx, d, svc, files)
	if err != nil {
		return err
	}
	a.mu.Lock()
	mounts := held.mounts()
	a.mu.Unlock()
	if err := reloader.UpdateMounts(ctx, d.ID, mounts); err != nil {
		return fmt.Errorf("write the certificates of %s: %w", d.ID, err)
	}
	a.cfg.Logger.Info("certificates issued for an adopted container", "alloc", d.ID, "certificates", len(svc.Certificates))
	return nil
}

// renewFailed records a failed renewal and when to try again.
func (a *Agent) renewFailed(d *api.Allocation, rc *replicaCert, err error, now time.Time) {
	a.mu.Lock()
	rc.failures++
	wait := min(renewRetryBase<<min(rc.failures-1, 16), renewRetryMax)
	rc.retryAt = now.Add(wait)
	failures := rc.failures
	a.mu.Unlock()
	left := rc.notAfter.Sub(now)
	when := fmt.Sprintf("it expires in %s (%s)", left.Round(time.Second), rc.notAfter.UTC().Format(time.RFC3339))
	if left <= 0 {
		when = fmt.Sprintf("it EXPIRED at %s", rc.notAfter.UTC().Format(time.RFC3339))
	}
	msg := fmt.Sprintf("renewing certificate %s under %s failed (%d in a row; next try in %s): %s; %s", rc.spec.Name, rc.spec.Path, failures, wait, trimErr(err), when)
	if left <= 0 {
		a.cfg.Logger.Error(msg, "alloc", d.ID)
	} else {
		a.cfg.Logger.Warn(msg, "alloc", d.ID)
	}
	a.reporter.Event(api.AllocEvent{Allocation: d.ID, Type: api.EventCertificateRenewFailed, Time: now, Message: msg})
}

// trimErr keeps an error to one line.
func trimErr(err error) string {
	var apiErr *api.Error
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return err.Error() + " (not found)"
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// reloadForCertificates tells the container its certificates changed:
// each renewed one's signal (once per signal), or a restart in place.
func (a *Agent) reloadForCertificates(ctx context.Context, d *api.Allocation, l *localAlloc, reloader runtime.Reloader, renewed []*replicaCert) error {
	now := a.cfg.Clock.Now()
	restart := false
	sent := map[string]bool{}
	for _, rc := range renewed {
		msg := fmt.Sprintf("certificate %s renewed under %s (valid until %s)", rc.spec.Name, rc.spec.Path, rc.notAfter.UTC().Format(time.RFC3339))
		switch rc.spec.Reload {
		case api.ReloadRestart:
			restart = true
			msg += "; restarting the container"
		default:
			if !sent[rc.spec.Signal] {
				sent[rc.spec.Signal] = true
				sig, ok := reloadSignal(rc.spec.Signal)
				if ok {
					if err := reloader.Signal(ctx, d.ID, sig); err != nil && !errors.Is(err, runtime.ErrNotRunning) {
						return fmt.Errorf("signal %s to %s: %w", rc.spec.Signal, d.ID, err)
					}
				}
			}
			msg += "; sent " + rc.spec.Signal
		}
		a.cfg.Logger.Info(msg, "alloc", d.ID)
		a.reporter.Event(api.AllocEvent{Allocation: d.ID, Type: api.EventCertificateRenewed, Time: now, Message: msg})
	}
	if !restart {
		return nil
	}
	// In place: the same container, its new files already written. Not
	// a failure: the restart count stays.
	a.stopProbes(d.ID)
	if err := a.rt.Stop(ctx, d.ID, a.cfg.StopGrace); err != nil {
		return fmt.Errorf("restart %s for its certificates: %w", d.ID, err)
	}
	if err := a.rt.Start(ctx, d.ID); err != nil {
		return fmt.Errorf("restart %s for its certificates: %w", d.ID, err)
	}
	return nil
}
