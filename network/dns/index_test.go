package dns

import (
	"log/slog"
	"slices"
	"testing"

	"flotilla/api"
)

func TestBadEntriesAreLeftOutAndTheOthersKept(t *testing.T) {
	services := []api.ServiceEndpoints{
		{Namespace: "default", Name: "Bad_Name", VIP: "127.1.0.1"},
		{Namespace: "", Name: "nonamespace", VIP: "127.1.0.2"},
		{Namespace: "default", Name: "badvip", VIP: "not-an-ip"},
		{Namespace: "default", Name: "ok", VIP: "127.1.0.3",
			Ports: []api.Port{{Name: "bad_port", Port: 80}, {Name: "http", Port: 8080}},
			Endpoints: []api.Endpoint{
				{ID: "e1", IP: "127.0.9.1", Ready: true},
				{ID: "bad.id", IP: "127.0.9.2", Ready: true},
				{ID: "e3", IP: "999.0.0.1", Ready: true},
				{ID: "e1", IP: "127.0.9.4", Ready: true}, // duplicate ID
			}},
		{Namespace: "default", Name: "ok", VIP: "127.1.0.4"}, // listed twice
	}
	idx := buildIndex("svc.flotilla.", 5, 1, services, slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		name   string
		exists bool
		a      []string
	}{
		{"bad_name.default.svc.flotilla.", false, nil},
		{"nonamespace..svc.flotilla.", false, nil},
		{"badvip.default.svc.flotilla.", true, nil}, // named, without an address
		{"ok.default.svc.flotilla.", true, []string{"a ok.default.svc.flotilla. 127.1.0.3"}},
		{"e1.ok.default.svc.flotilla.", true, []string{"a e1.ok.default.svc.flotilla. 127.0.9.1"}},
		{"e3.ok.default.svc.flotilla.", false, nil},
		{"_bad_port._tcp.ok.default.svc.flotilla.", false, nil},
		{"_http._tcp.ok.default.svc.flotilla.", true, nil},
	} {
		n := idx.names[tc.name]
		if (n != nil) != tc.exists {
			t.Errorf("%s: exists %v, want %v", tc.name, n != nil, tc.exists)
			continue
		}
		if n != nil && !slices.Equal(summary(n.a), tc.a) {
			t.Errorf("%s: A %q, want %q", tc.name, summary(n.a), tc.a)
		}
	}
	if srv := idx.names["_http._tcp.ok.default.svc.flotilla."]; srv == nil || len(srv.srv) != 1 {
		t.Errorf("SRV of ok: %v, want the one good endpoint", srv)
	}
}
