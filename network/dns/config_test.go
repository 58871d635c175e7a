package dns

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadResolvConf(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		content string // "" with missing: no file
		missing bool
		want    []string
	}{
		{
			name: "nameservers in order as host:53",
			content: "# generated\nsearch example.test\nnameserver 127.0.0.53\n" +
				"options edns0 trust-ad\nnameserver ::1\nnameserver 127.0.0.2 # second\n",
			want: []string{"127.0.0.53:53", "[::1]:53", "127.0.0.2:53"},
		},
		{
			name:    "duplicates, bad addresses and comments are skipped",
			content: "nameserver 127.0.0.2\nnameserver not-an-ip\n; nameserver 127.0.0.9\nnameserver 127.0.0.2\nnameserver\n",
			want:    []string{"127.0.0.2:53"},
		},
		{name: "a file without nameservers gives none", content: "search example.test\n", want: nil},
		{name: "a missing file gives none", missing: true, want: nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "resolv"+string(rune('a'+i))+".conf")
			if !tc.missing {
				if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := ReadResolvConf(path); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUpstreamsLeaveOutTheServersOwnAddress(t *testing.T) {
	self := netip.MustParseAddrPort("127.0.0.1:53")
	all := netip.MustParseAddrPort("0.0.0.0:53")
	cases := []struct {
		name      string
		upstreams []string
		self      netip.AddrPort
		want      []string
	}{
		{"own address left out", []string{"127.0.0.1:53", "127.0.0.53:53"}, self, []string{"127.0.0.53:53"}},
		{"another loopback port kept", []string{"127.0.0.1:5353"}, self, []string{"127.0.0.1:5353"}},
		{"listening on all addresses: any loopback on that port left out", []string{"127.0.0.1:53", "127.0.0.53:53", "[::1]:53", "127.0.0.53:54"}, all, []string{"127.0.0.53:54"}},
		{"port 53 is the default", []string{"127.0.0.1", "127.0.0.2", "[::1]"}, self, []string{"127.0.0.2:53", "[::1]:53"}},
		{"duplicates once", []string{"127.0.0.2:53", "127.0.0.2"}, self, []string{"127.0.0.2:53"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Config{Listen: "x", Upstreams: tc.upstreams}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			ups, err := upstreams(cfg, tc.self)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range ups {
				got = append(got, u.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNilUpstreamsReadResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("nameserver 127.0.0.1\nnameserver 127.0.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Listen: "127.0.0.1:0", resolvConf: path, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.udpConn.Close()
	defer s.tcpLn.Close()
	if want := []string{"127.0.0.1:53", "127.0.0.53:53"}; !slices.Equal(s.upstreams, want) {
		t.Errorf("upstreams %q, want %q", s.upstreams, want)
	}
}

func TestBadConfigFailsClearly(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no listen address", Config{Upstreams: []string{}}, "listen address is empty"},
		{"listen address without port", Config{Listen: "127.0.0.1", Upstreams: []string{}}, "listen address"},
		{"upstream that is not an IP", Config{Listen: "127.0.0.1:0", Upstreams: []string{"resolver.example.test:53"}}, `upstream "resolver.example.test:53"`},
		{"domain that is not a name", Config{Listen: "127.0.0.1:0", Domain: "a..b", Upstreams: []string{}}, "not a domain name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if err == nil {
				s.udpConn.Close()
				s.tcpLn.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestIsSelfRecognisesThisServerOnAnyAddress(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		upstream, self string
		want           bool
	}{
		{"127.0.0.1:53", "127.0.0.1:53", true},
		{"10.1.2.3:53", "10.1.2.3:53", true}, // a node address, as resolv.conf may name it
		{"10.1.2.3:53", "10.1.2.4:53", false},
		{"127.0.0.1:53", "0.0.0.0:53", true},
		{"127.0.0.1:5353", "0.0.0.0:53", false},
		{"10.255.255.53:53", "127.0.0.1:53", false},
	}
	for _, tt := range tests {
		if got := isSelf(ap(tt.upstream), ap(tt.self), true); got != tt.want {
			t.Errorf("isSelf(%s, %s) = %v, want %v", tt.upstream, tt.self, got, tt.want)
		}
	}
}
