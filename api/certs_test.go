package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestCertificateDefaults(t *testing.T) {
	s := decodeOne(t, minimalDoc+"namespace: prod\ncertificates: [{name: tls, path: /etc/tls}]\n")
	want := []CertificateSpec{{Name: "tls", DNSNames: []string{"web.prod.svc.flotilla"}, Path: "/etc/tls",
		Lifetime: Duration(24 * time.Hour), Reload: ReloadSignal, Signal: "SIGHUP"}}
	if !reflect.DeepEqual(s.Certificates, want) {
		t.Fatalf("defaults: %+v, want %+v", s.Certificates, want)
	}
	// A defaulted spec read back is applied again unchanged.
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeServiceJSON("again", data)
	if err != nil || !reflect.DeepEqual(again.Certificates, want) {
		t.Fatalf("decoded again: %+v %v", again.Certificates, err)
	}
}

func TestServiceDNSNamesFollowTheRolloutsPreviewName(t *testing.T) {
	ramped := decodeOne(t, minimalDoc)
	if got := ServiceDNSNames(&ramped); !slices.Equal(got, []string{"web.default.svc.flotilla", "web.default", "web"}) {
		t.Fatalf("ramped: %v", got)
	}
	bg := decodeOne(t, minimalDoc+"rollout: {strategy: blue-green}\n")
	if got := ServiceDNSNames(&bg); !slices.Contains(got, "web-preview.default.svc.flotilla") || slices.Contains(got, "web-canary.default.svc.flotilla") {
		t.Fatalf("blue-green: %v", got)
	}
	canary := decodeOne(t, minimalDoc+"rollout: {strategy: canary, canary: {steps: [{weight: 50}]}}\n")
	if got := ServiceDNSNames(&canary); !slices.Contains(got, "web-canary") || slices.Contains(got, "web-preview") {
		t.Fatalf("canary: %v", got)
	}
}

func TestCertificateValidation(t *testing.T) {
	for _, tc := range []struct {
		name, doc, field, message string
	}{
		{"another service's name", "certificates: [{name: tls, path: /etc/tls, dnsNames: [db.default.svc.flotilla]}]",
			"spec.certificates[0].dnsNames[0]", `"db.default.svc.flotilla" is not a name of service default/web`},
		{"another namespace's name", "certificates: [{name: tls, path: /etc/tls, dnsNames: [web.prod.svc.flotilla]}]",
			"spec.certificates[0].dnsNames[0]", "is not a name of service"},
		{"a foreign name", "certificates: [{name: tls, path: /etc/tls, dnsNames: [web, example.com]}]",
			"spec.certificates[0].dnsNames[1]", `"example.com" is not a name`},
		{"a preview name without blue-green", "certificates: [{name: tls, path: /etc/tls, dnsNames: [web-preview.default.svc.flotilla]}]",
			"spec.certificates[0].dnsNames[0]", "is not a name"},
		{"a name twice", "certificates: [{name: tls, path: /etc/tls, dnsNames: [web, web]}]",
			"spec.certificates[0].dnsNames[1]", "duplicate name"},
		{"no name", "certificates: [{path: /etc/tls}]", "spec.certificates[0].name", "required"},
		{"a name not file-safe", "certificates: [{name: ../tls, path: /etc/tls}]", "spec.certificates[0].name", "invalid name"},
		{"a name twice over", "certificates: [{name: tls, path: /etc/a}, {name: tls, path: /etc/b}]", "spec.certificates[1].name", `duplicate certificate name "tls"`},
		{"no path", "certificates: [{name: tls}]", "spec.certificates[0].path", "required"},
		{"a relative path", "certificates: [{name: tls, path: etc/tls}]", "spec.certificates[0].path", "absolute directory path"},
		{"an unclean path", "certificates: [{name: tls, path: /etc/../tls}]", "spec.certificates[0].path", "absolute directory path"},
		{"the path of a config", "configs: [{name: app, path: /etc/app}]\ncertificates: [{name: tls, path: /etc/app}]", "spec.certificates[0].path", "overlaps"},
		{"inside a secret's path", "secrets: [{name: db, path: /run/db}]\ncertificates: [{name: tls, path: /run/db/tls}]", "spec.certificates[0].path", "overlaps"},
		{"around another certificate", "certificates: [{name: a, path: /etc/tls/a}, {name: b, path: /etc/tls}]", "spec.certificates[1].path", "overlaps"},
		{"too short", "certificates: [{name: tls, path: /etc/tls, lifetime: 30m}]", "spec.certificates[0].lifetime", "must be between 1h and 2160h (90 days), got 30m"},
		{"too long", "certificates: [{name: tls, path: /etc/tls, lifetime: 2161h}]", "spec.certificates[0].lifetime", "must be between"},
		{"a bad reload", "certificates: [{name: tls, path: /etc/tls, reload: never}]", "spec.certificates[0].reload", "must be signal or restart"},
		{"a signal with restart", "certificates: [{name: tls, path: /etc/tls, reload: restart, signal: SIGHUP}]", "spec.certificates[0].signal", "only with reload: signal"},
		{"a bad signal", "certificates: [{name: tls, path: /etc/tls, signal: SIGKILL}]", "spec.certificates[0].signal", "must be one of"},
		{"IP names", "certificates: [{name: tls, path: /etc/tls, ipSANs: [10.0.0.1]}]", "spec.certificates[0].ipSANs", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeServices("web.yaml", []byte(minimalDoc+tc.doc+"\n"))
			wantFieldError(t, err, "web.yaml", tc.field, tc.message)
		})
	}
}

func TestCertificateNamesAccepted(t *testing.T) {
	for _, doc := range []string{
		"certificates: [{name: tls, path: /etc/tls, dnsNames: [web.default.svc.flotilla, web.default, web]}]",
		"rollout: {strategy: blue-green}\ncertificates: [{name: tls, path: /etc/tls, dnsNames: [web, web-preview, web-preview.default.svc.flotilla]}]",
		"rollout: {strategy: canary, canary: {steps: [{weight: 50}]}}\ncertificates: [{name: tls, path: /etc/tls, dnsNames: [web-canary.default]}]",
		"configs: [{name: app, path: /etc/app}]\ncertificates: [{name: tls, path: /etc/tls, lifetime: 1h, reload: restart}, {name: mtls, path: /etc/mtls, lifetime: 2160h, signal: SIGUSR1}]",
	} {
		if _, err := DecodeServices("web.yaml", []byte(minimalDoc+doc+"\n")); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
}
