package cni

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestConfigListIsBridgeWithHostLocalAndNoMasquerade(t *testing.T) {
	cfg, err := Config{
		Subnet:      netip.MustParsePrefix("10.200.3.0/24"),
		DataDir:     "/var/lib/flotilla/n1/cni",
		NetnsPrefix: "flotilla-n1-",
		MTU:         1400,
	}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := configList(cfg, "/var/lib/flotilla/n1/cni/ipam", false)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("generated config is not JSON: %v\n%s", err, raw)
	}
	want := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "flotilla",
		"plugins": []any{map[string]any{
			"type":        "bridge",
			"bridge":      "flotilla0",
			"isGateway":   true,
			"ipMasq":      false,
			"hairpinMode": true,
			"mtu":         1400.0,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  []any{[]any{map[string]any{"subnet": "10.200.3.0/24", "gateway": "10.200.3.1"}}},
				"routes":  []any{map[string]any{"dst": "0.0.0.0/0", "gw": "10.200.3.1"}},
				"dataDir": "/var/lib/flotilla/n1/cni/ipam",
			},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config list:\n%s\nwant:\n%v", raw, want)
	}
}

func TestConfigListAppendsPortmapOnlyWhenAsked(t *testing.T) {
	cfg, err := Config{Subnet: netip.MustParsePrefix("10.200.3.0/24"), DataDir: "/d", NetnsPrefix: "p-"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := configList(cfg, "/d/ipam", true)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Plugins) != 2 {
		t.Fatalf("plugins = %d, want bridge and portmap:\n%s", len(got.Plugins), raw)
	}
	if _, ok := got.Plugins[0]["mtu"]; ok {
		t.Errorf("mtu set although Config.MTU is 0:\n%s", raw)
	}
	pm := got.Plugins[1]
	if pm["type"] != "portmap" || !reflect.DeepEqual(pm["capabilities"], map[string]any{"portMappings": true}) {
		t.Fatalf("second plugin = %v, want portmap with the portMappings capability", pm)
	}
}

func TestConfigValidation(t *testing.T) {
	good := Config{Subnet: netip.MustParsePrefix("10.200.3.0/24"), DataDir: "/d", NetnsPrefix: "flotilla-n1-"}
	tests := []struct {
		name   string
		change func(*Config)
		errHas string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no subnet", func(c *Config) { c.Subnet = netip.Prefix{} }, "subnet is required"},
		{"ipv6 subnet", func(c *Config) { c.Subnet = netip.MustParsePrefix("fd00::/64") }, "only IPv4"},
		{"host bits", func(c *Config) { c.Subnet = netip.MustParsePrefix("10.200.3.5/24") }, "did you mean 10.200.3.0/24"},
		{"too small", func(c *Config) { c.Subnet = netip.MustParsePrefix("10.200.3.0/31") }, "too small"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data dir is required"},
		{"no netns prefix", func(c *Config) { c.NetnsPrefix = "" }, "netns prefix is required"},
		{"slash in prefix", func(c *Config) { c.NetnsPrefix = "a/b" }, "contains '/'"},
		{"long bridge", func(c *Config) { c.Bridge = "flotilla-bridge0" }, "at most 15"},
		{"bad name", func(c *Config) { c.Name = "-x" }, "network name"},
		{"bad mtu", func(c *Config) { c.MTU = -1 }, "mtu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.change(&cfg)
			got, err := cfg.withDefaults()
			switch {
			case tt.errHas == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.errHas == "":
				if got.Name != DefaultName || got.Bridge != DefaultBridge || !reflect.DeepEqual(got.PluginDirs, DefaultPluginDirs) {
					t.Fatalf("defaults not applied: %+v", got)
				}
			case err == nil || !strings.Contains(err.Error(), tt.errHas):
				t.Fatalf("error = %v, want one containing %q", err, tt.errHas)
			}
		})
	}
}

func TestGatewayIsFirstAddress(t *testing.T) {
	if got := gateway(netip.MustParsePrefix("10.200.3.0/24")); got != netip.MustParseAddr("10.200.3.1") {
		t.Fatalf("gateway = %s, want 10.200.3.1", got)
	}
}

func TestValidatePortMappings(t *testing.T) {
	got, err := validatePortMappings([]PortMapping{{HostPort: 8080, ContainerPort: 80}, {HostPort: 53, ContainerPort: 53, Protocol: "UDP"}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Protocol != "tcp" || got[1].Protocol != "udp" {
		t.Fatalf("protocols = %q, %q; want tcp, udp", got[0].Protocol, got[1].Protocol)
	}
	for _, bad := range []PortMapping{{HostPort: 0, ContainerPort: 80}, {HostPort: 80, ContainerPort: 70000}, {HostPort: 80, ContainerPort: 80, Protocol: "sctp"}} {
		if _, err := validatePortMappings([]PortMapping{bad}); err == nil {
			t.Errorf("validatePortMappings(%+v) succeeded", bad)
		}
	}
}
