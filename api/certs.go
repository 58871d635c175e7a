package api

import (
	"path"
	"slices"
	"strings"
	"time"
)

// Certificates for services: the cluster keeps a workload CA (made by the
// first leader, or supplied by an operator), and a service that lists
// certificates gets, in every replica, a certificate of that CA for the
// service's own DNS names, as files under the certificate's path:
//
//	tls.crt  the replica's certificate (PEM)
//	tls.key  its private key (PEM), made on the replica's node: it never
//	         leaves it
//	ca.crt   the workload CA's certificate, to verify the others with
//
// The node's agent renews each certificate at two thirds of its lifetime,
// rewrites the files in place and reloads the container (a signal, or a
// restart).

// Names of the files a certificate mount holds, as cert-manager names
// them.
const (
	CertFileName = "tls.crt"
	KeyFileName  = "tls.key"
	CAFileName   = "ca.crt"
)

// ServiceDomain is the DNS zone of services: NAME.NAMESPACE.svc.flotilla.
const ServiceDomain = "svc.flotilla"

// Preview and canary names, which the cluster DNS serves during a
// blue-green or canary rollout (scheduler/rollout keeps the same).
const (
	previewSuffix = "-preview"
	canarySuffix  = "-canary"
)

// Certificate lifetimes.
const (
	DefaultCertificateLifetime = Duration(24 * time.Hour)
	MinCertificateLifetime     = Duration(time.Hour)
	MaxCertificateLifetime     = Duration(90 * 24 * time.Hour)
)

// CertificateSpec asks for a certificate in every replica of a service.
type CertificateSpec struct {
	// Name names the certificate (a DNS label): the issuance route and
	// events name it.
	Name string `json:"name"`
	// DNSNames are the names it is valid for, each one of the service's
	// own (ServiceDNSNames); default NAME.NAMESPACE.svc.flotilla.
	DNSNames []string `json:"dnsNames,omitempty"`
	// Path is the directory of tls.crt, tls.key and ca.crt.
	Path string `json:"path"`
	// Lifetime of each certificate issued (default 24h); it is renewed at
	// two thirds of it.
	Lifetime Duration `json:"lifetime,omitempty"`
	// Reload is what a renewal does once the files are rewritten:
	// "signal" (default) sends Signal (default SIGHUP); "restart"
	// restarts the container in place.
	Reload string `json:"reload,omitempty"`
	Signal string `json:"signal,omitempty"`
}

// ServiceDNSName is a service's full DNS name: NAME.NAMESPACE.svc.flotilla.
func ServiceDNSName(name, namespace string) string {
	return name + "." + namespace + "." + ServiceDomain
}

// ServiceDNSNames are the names a service's certificates may hold: its
// full name, NAME.NAMESPACE and NAME (which containers' DNS search
// domains complete), and the same of its preview (blue-green) or canary
// name, which the cluster DNS serves while such a rollout runs. No other
// service can be given a certificate for them.
func ServiceDNSNames(s *ServiceSpec) []string {
	names := []string{s.Name}
	switch s.Rollout.Strategy {
	case RolloutBlueGreen:
		names = append(names, s.Name+previewSuffix)
	case RolloutCanary:
		names = append(names, s.Name+canarySuffix)
	}
	var out []string
	for _, n := range names {
		out = append(out, ServiceDNSName(n, s.Namespace), n+"."+s.Namespace, n)
	}
	return out
}

func (s *ServiceSpec) setCertificateDefaults() {
	for i := range s.Certificates {
		c := &s.Certificates[i]
		if len(c.DNSNames) == 0 {
			c.DNSNames = []string{ServiceDNSName(s.Name, s.Namespace)}
		}
		if c.Lifetime == 0 {
			c.Lifetime = DefaultCertificateLifetime
		}
		if c.Reload == "" {
			c.Reload = ReloadSignal
		}
		if c.Reload == ReloadSignal && c.Signal == "" {
			c.Signal = "SIGHUP"
		}
	}
	if len(s.Certificates) == 0 {
		s.Certificates = nil
	}
}

// validateCertificates checks certificates: names unique, paths apart
// from each other's and from configs' and secrets', names the service's
// own.
func (s *ServiceSpec) validateCertificates() *FieldError {
	var mounted []string
	for _, c := range s.Configs {
		mounted = append(mounted, c.Path)
	}
	for _, sec := range s.Secrets {
		if sec.Path != "" {
			mounted = append(mounted, sec.Path)
		}
	}
	allowed := ServiceDNSNames(s)
	names := map[string]bool{}
	for i, c := range s.Certificates {
		f := indexPath("spec.certificates", i)
		if fe := validateName(f+".name", c.Name); fe != nil {
			return fe
		}
		if names[c.Name] {
			return fieldErr(f+".name", "duplicate certificate name %q", c.Name)
		}
		names[c.Name] = true
		switch p := c.Path; {
		case p == "":
			return fieldErr(f+".path", "required")
		case !strings.HasPrefix(p, "/") || p == "/" || path.Clean(p) != p:
			return fieldErr(f+".path", "must be an absolute directory path such as /etc/tls, got %q", p)
		}
		for _, q := range mounted {
			if q == c.Path || strings.HasPrefix(c.Path, q+"/") || strings.HasPrefix(q, c.Path+"/") {
				return fieldErr(f+".path", "%q overlaps %q, mounted already", c.Path, q)
			}
		}
		mounted = append(mounted, c.Path)
		if len(c.DNSNames) == 0 {
			return fieldErr(f+".dnsNames", "at least one name (left out: %s)", ServiceDNSName(s.Name, s.Namespace))
		}
		seen := map[string]bool{}
		for j, n := range c.DNSNames {
			nf := indexPath(f+".dnsNames", j)
			if !slices.Contains(allowed, n) {
				return fieldErr(nf, "%q is not a name of service %s/%s: a certificate may name only %s", n, s.Namespace, s.Name, strings.Join(allowed, ", "))
			}
			if seen[n] {
				return fieldErr(nf, "duplicate name %q", n)
			}
			seen[n] = true
		}
		if c.Lifetime < MinCertificateLifetime || c.Lifetime > MaxCertificateLifetime {
			return fieldErr(f+".lifetime", "must be between %s and %s (90 days), got %s", MinCertificateLifetime, MaxCertificateLifetime, c.Lifetime)
		}
		if fe := validateReload(f, c.Reload, c.Signal, "signal or restart", ""); fe != nil {
			return fe
		}
	}
	return nil
}

// Certificate returns the spec's certificate of that name, or nil.
func (s *ServiceSpec) Certificate(name string) *CertificateSpec {
	i := slices.IndexFunc(s.Certificates, func(c CertificateSpec) bool { return c.Name == name })
	if i < 0 {
		return nil
	}
	return &s.Certificates[i]
}

// WorkloadCA answers GET /v1/operator/ca: the workload CA's certificate,
// which clients of services trust. Never its key.
type WorkloadCA struct {
	// Certificate is the CA's certificate (PEM).
	Certificate string `json:"certificate"`
	// Source is "generated" (made by the cluster's first leader) or
	// "supplied" (flotilla operator ca set).
	Source    string    `json:"source"`
	Subject   string    `json:"subject"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// Fingerprint is the SHA-256 of the certificate (DER), hex.
	Fingerprint string    `json:"fingerprint"`
	ModifyTime  time.Time `json:"modifyTime"`
	ModifyIndex uint64    `json:"modifyIndex"`
}

// Sources of the workload CA.
const (
	CASourceGenerated = "generated"
	CASourceSupplied  = "supplied"
)

// SetWorkloadCARequest is PUT /v1/operator/ca: an operator's own CA, its
// certificate and private key as PEM.
type SetWorkloadCARequest struct {
	Certificate string `json:"certificate"`
	Key         string `json:"key"`
}

// SetWorkloadCAResponse answers PUT /v1/operator/ca.
type SetWorkloadCAResponse struct {
	Index uint64     `json:"index"`
	CA    WorkloadCA `json:"ca"`
	// Previous is the fingerprint of the CA it replaced ("" for none).
	Previous string `json:"previous,omitempty"`
}

// MaxCSRBytes bounds a certificate request's body.
const MaxCSRBytes = 16 << 10

// CertificateRequest is POST /v1/nodes/{name}/allocations/{id}/certificates/{cert}:
// a node's agent asks for a certificate of one of its allocations, for a
// key it made and keeps.
type CertificateRequest struct {
	// CSR is a PEM CERTIFICATE REQUEST; its names are ignored: the
	// certificate gets the spec's.
	CSR string `json:"csr"`
}

// IssuedCertificate answers a CertificateRequest.
type IssuedCertificate struct {
	// Certificate is the replica's certificate (PEM), CA the workload
	// CA's (PEM, the bundle to verify with).
	Certificate string    `json:"certificate"`
	CA          string    `json:"ca"`
	DNSNames    []string  `json:"dnsNames"`
	URI         string    `json:"uri"`
	Serial      string    `json:"serial"`
	NotBefore   time.Time `json:"notBefore"`
	NotAfter    time.Time `json:"notAfter"`
}

// WorkloadURI is the URI name of a replica's certificates (a SPIFFE ID):
// spiffe://flotilla/ns/NAMESPACE/svc/SERVICE/alloc/ID.
func WorkloadURI(namespace, service, alloc string) string {
	return "spiffe://flotilla/ns/" + namespace + "/svc/" + service + "/alloc/" + alloc
}

// Event types of certificates.
const (
	// EventCertificateRenewed: an agent rewrote a replica's certificate
	// with a new one.
	EventCertificateRenewed = "CertificateRenewed"
	// EventCertificateRenewFailed: a renewal failed; it is retried with
	// backoff. The message says when the certificate expires.
	EventCertificateRenewFailed = "CertificateRenewFailed"
	// EventWorkloadCAChanged: the workload CA was made or replaced.
	EventWorkloadCAChanged = "WorkloadCAChanged"
)
