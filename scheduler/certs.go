package scheduler

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/scheduler/state"
	"flotilla/security/pki"
	"flotilla/storage"
)

// The workload CA signs services' certificates (api/certs.go). The first
// leader makes it; an operator may replace it with one of their own
// (flotilla operator ca set). It lives in Raft with its key sealed under
// the keyring that seals secrets, and is sealed again when that keyring
// rotates. Every server holding the keyring signs: a certificate is
// never written to Raft.
var _ api.WorkloadCerts = (*Server)(nil)

// workloadCACommonName names the CA the cluster makes.
const workloadCACommonName = "Flotilla workload CA"

// workloadCAs caches the workload CA opened, for the CA Raft holds at one
// index and sealed under one key.
type workloadCAs struct {
	mu    sync.Mutex
	index uint64
	keyID string
	ca    *pki.CA
}

// caAAD binds a sealed CA key to its certificate.
func caAAD(fingerprint string) []byte { return []byte("flotilla workload ca\x00" + fingerprint) }

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ensureWorkloadCA makes the workload CA when the cluster has none (its
// first leader, or one after a restore of a state without it), retrying
// until it is stored or the term ends.
func (s *Server) ensureWorkloadCA(ctx context.Context) {
	backoff := time.Second
	for {
		if s.store.Snapshot().WorkloadCA(nil) != nil {
			return
		}
		err := s.makeWorkloadCA()
		if err == nil {
			return
		}
		s.cfg.Logger.Warn("make the workload CA; retrying", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-s.cfg.Clock.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

func (s *Server) makeWorkloadCA() error {
	ca, err := pki.NewCA(pki.CAOptions{CommonName: workloadCACommonName}, s.now())
	if err != nil {
		return err
	}
	k := s.secrets
	k.rotate.RLock()
	defer k.rotate.RUnlock()
	cmd, err := s.sealCA(ca, api.CASourceGenerated)
	if err != nil {
		return err
	}
	cmd.IfMissing = true
	resp, _, err := s.apply(state.CmdSetWorkloadCA, cmd)
	if err != nil {
		return err
	}
	if r, _ := resp.(*state.SetWorkloadCAResult); r != nil && r.Stored {
		s.cfg.Logger.Info("workload CA made", "fingerprint", cmd.Fingerprint, "not_after", cmd.NotAfter)
	}
	return nil
}

// sealCA is the command storing ca, its key sealed under the active
// keyring key. The caller holds the keyring's rotation lock (read).
func (s *Server) sealCA(ca *pki.CA, source string) (*state.SetWorkloadCA, error) {
	k := s.secrets
	keyID := k.activeKey(s.store.Snapshot())
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return nil, fmt.Errorf("encode the CA key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	fp := fingerprint(ca.Cert.Raw)
	sealed, err := k.keyring.Seal(keyID, keyPEM, caAAD(fp))
	if err != nil {
		return nil, fmt.Errorf("encrypt the CA key on server %s: %w", s.cfg.Name, err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
	return &state.SetWorkloadCA{CertPEM: string(certPEM), Fingerprint: fp, Subject: ca.Cert.Subject.CommonName,
		NotAfter: ca.Cert.NotAfter.UTC(), KeyID: keyID, SealedKey: sealed, Source: source, Time: s.now()}, nil
}

// openWorkloadCA is the CA Raft holds, its key opened with this server's
// keyring.
func (s *Server) openWorkloadCA(stored *state.StoredCA) (*pki.CA, error) {
	c := &s.certs
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ca != nil && c.index == stored.ModifyIndex && c.keyID == stored.KeyID {
		return c.ca, nil
	}
	keyPEM, err := s.secrets.keyring.Open(stored.KeyID, stored.SealedKey, caAAD(stored.Fingerprint))
	if errors.Is(err, storage.ErrUnknownKey) {
		return nil, fmt.Errorf("the workload CA's key is encrypted under keyring key %s, which server %s's keyring (%s) does not hold: give every server the cluster's keyring file",
			stored.KeyID, s.cfg.Name, s.secrets.keyring.Path())
	}
	if err != nil {
		return nil, fmt.Errorf("decrypt the workload CA's key on server %s: %w", s.cfg.Name, err)
	}
	ca, err := pki.ParseCA([]byte(stored.CertPEM), keyPEM)
	if err != nil {
		return nil, fmt.Errorf("workload CA: %w", err)
	}
	c.index, c.keyID, c.ca = stored.ModifyIndex, stored.KeyID, ca
	return ca, nil
}

// resealWorkloadCA seals the CA's key again under keyring key keyID (a
// rotation; the caller holds the rotation lock). No CA, or one under
// that key already, is nothing to do.
func (s *Server) resealWorkloadCA(keyID string) error {
	stored := s.store.Snapshot().WorkloadCA(nil)
	if stored == nil || stored.KeyID == keyID {
		return nil
	}
	keyPEM, err := s.secrets.keyring.Open(stored.KeyID, stored.SealedKey, caAAD(stored.Fingerprint))
	if err != nil {
		return fmt.Errorf("the workload CA could not be sealed again: %w", err)
	}
	sealed, err := s.secrets.keyring.Seal(keyID, keyPEM, caAAD(stored.Fingerprint))
	if err != nil {
		return err
	}
	if _, _, err := s.apply(state.CmdResealWorkloadCA, &state.ResealWorkloadCA{ModifyIndex: stored.ModifyIndex, KeyID: keyID, SealedKey: sealed, Time: s.now()}); err != nil {
		return fmt.Errorf("seal the workload CA again under %s: %w", keyID, err)
	}
	return nil
}

func workloadCAInfo(stored *state.StoredCA) (*api.WorkloadCA, error) {
	cert, err := pki.ParseCertificate([]byte(stored.CertPEM))
	if err != nil {
		return nil, fmt.Errorf("workload CA: %w", err)
	}
	return &api.WorkloadCA{Certificate: stored.CertPEM, Source: stored.Source, Subject: cert.Subject.String(),
		NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), Fingerprint: stored.Fingerprint,
		ModifyTime: stored.ModifyTime, ModifyIndex: stored.ModifyIndex}, nil
}

var errNoWorkloadCA = fmt.Errorf("no workload CA yet: the cluster's leader makes one once elected (or set yours: flotilla operator ca set): %w", api.ErrNotFound)

func (s *Server) WorkloadCA(ctx context.Context) (*api.WorkloadCA, error) {
	stored := s.store.Snapshot().WorkloadCA(nil)
	if stored == nil {
		return nil, errNoWorkloadCA
	}
	return workloadCAInfo(stored)
}

// SetWorkloadCA checks an operator's CA (a CA certificate, valid now,
// that may sign certificates, and its key) and stores it in place of the
// cluster's.
func (s *Server) SetWorkloadCA(ctx context.Context, req api.SetWorkloadCARequest) (api.SetWorkloadCAResponse, error) {
	now := s.now()
	certs, err := pki.ParseCertificates([]byte(req.Certificate))
	if err != nil {
		return api.SetWorkloadCAResponse{}, &api.FieldError{Field: "certificate", Message: err.Error()}
	}
	if len(certs) != 1 {
		return api.SetWorkloadCAResponse{}, &api.FieldError{Field: "certificate", Message: fmt.Sprintf("%d certificates: want the CA's only", len(certs))}
	}
	if _, err := pki.ParsePrivateKey([]byte(req.Key)); err != nil {
		return api.SetWorkloadCAResponse{}, &api.FieldError{Field: "key", Message: err.Error()}
	}
	probe := &pki.CA{Cert: certs[0]}
	if err := probe.CheckSigning(now); err != nil {
		return api.SetWorkloadCAResponse{}, &api.FieldError{Field: "certificate", Message: err.Error()}
	}
	ca, err := pki.ParseCA([]byte(req.Certificate), []byte(req.Key))
	if err != nil {
		return api.SetWorkloadCAResponse{}, &api.FieldError{Field: "key", Message: err.Error()}
	}
	k := s.secrets
	k.rotate.RLock()
	defer k.rotate.RUnlock()
	cmd, err := s.sealCA(ca, api.CASourceSupplied)
	if err != nil {
		return api.SetWorkloadCAResponse{}, err
	}
	cmd.RequestID = api.RequestIDFrom(ctx)
	resp, index, err := s.apply(state.CmdSetWorkloadCA, cmd)
	if err != nil {
		return api.SetWorkloadCAResponse{}, fmt.Errorf("set the workload CA: %w", err)
	}
	out := api.SetWorkloadCAResponse{Index: index}
	if r, _ := resp.(*state.SetWorkloadCAResult); r != nil {
		out.Previous = r.Previous
	}
	stored := s.store.Snapshot().WorkloadCA(nil)
	if stored == nil {
		return out, errNoWorkloadCA
	}
	info, err := workloadCAInfo(stored)
	if err != nil {
		return out, err
	}
	out.CA = *info
	s.cfg.Logger.Info("workload CA set by an operator", "fingerprint", cmd.Fingerprint, "previous", out.Previous)
	return out, nil
}

// IssueCertificate signs a certificate for a replica: for the key of the
// CSR its node's agent made, with the names of its revision's spec (the
// CSR's are ignored), its allocation in a URI name.
func (s *Server) IssueCertificate(ctx context.Context, node, id, name string, csrPEM []byte) (*api.IssuedCertificate, error) {
	snap := s.store.Snapshot()
	a, rev, err := placedRevision(ctx, snap, node, id)
	if err != nil {
		return nil, err
	}
	spec := rev.Spec.Certificate(name)
	if spec == nil {
		return nil, fmt.Errorf("revision %d of %s has no certificate %q: %w", a.Revision, a.ServiceKey(), name, api.ErrNotFound)
	}
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		return nil, &api.FieldError{Field: "csr", Message: err.Error()}
	}
	stored := snap.WorkloadCA(nil)
	if stored == nil {
		// The leader makes it as it starts: the agent asks again.
		return nil, fmt.Errorf("no workload CA yet: %w", api.ErrNoLeader)
	}
	ca, err := s.openWorkloadCA(stored)
	if err != nil {
		return nil, err
	}
	uri, err := url.Parse(api.WorkloadURI(a.Namespace, a.Service, a.ID))
	if err != nil {
		return nil, err
	}
	lifetime := spec.Lifetime.Std()
	if lifetime <= 0 {
		lifetime = api.DefaultCertificateLifetime.Std()
	}
	now := s.now()
	cert, certPEM, err := ca.Sign(csr.PublicKey, pki.LeafRequest{DNSNames: spec.DNSNames, URIs: []*url.URL{uri},
		OrganizationalUnit: a.Namespace + "/" + a.Service, ServerAuth: true, ClientAuth: true, Lifetime: lifetime}, now)
	if err != nil {
		return nil, fmt.Errorf("certificate %s of %s: %w", name, id, err)
	}
	s.cfg.Logger.Debug("issued a certificate", "alloc", id, "node", node, "certificate", name, "not_after", cert.NotAfter)
	return &api.IssuedCertificate{Certificate: string(certPEM), CA: stored.CertPEM, DNSNames: cert.DNSNames, URI: uri.String(),
		Serial: cert.SerialNumber.Text(16), NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC()}, nil
}
