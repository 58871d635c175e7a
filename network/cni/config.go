package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Defaults applied by New to an empty Config field.
const (
	DefaultName   = "flotilla"
	DefaultBridge = "flotilla0"
)

// DefaultPluginDirs is where the plugin binaries are looked up when
// Config.PluginDirs is empty: Debian's package, then the upstream location.
var DefaultPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// cniVersion is the spec version of the generated configuration; Debian's
// plugins (v1.1.1) support it.
const cniVersion = "1.0.0"

// containerIfName is the container side of the bridge's veth.
const containerIfName = "eth0"

// ErrNotAttached is returned by Lookup and Check when a container has no
// attachment on this network.
var ErrNotAttached = errors.New("container not attached")

// NodeNetnsPrefix is the NetnsPrefix of a node's containers: a lab or an
// operator finds every container namespace of node NODE as flotilla-NODE-*.
func NodeNetnsPrefix(node string) string { return "flotilla-" + node + "-" }

// Config describes one node's bridge network.
type Config struct {
	Name        string       // CNI network name, default "flotilla"
	Bridge      string       // bridge name, default "flotilla0"
	Subnet      netip.Prefix // the node's pod subnet, e.g. 10.200.3.0/24; gateway is the first address (.1)
	PluginDirs  []string     // default /usr/lib/cni, /opt/cni/bin
	DataDir     string       // required: host-local IPAM data (DataDir/ipam) and libcni's cache (DataDir/cache)
	NetnsPrefix string       // container netns names are NetnsPrefix+id, pinned under /run/netns; required
	MTU         int          // optional
}

// PortMapping publishes a container port on the node (portmap plugin).
type PortMapping struct {
	HostPort, ContainerPort int
	Protocol                string // tcp|udp, default tcp
}

var networkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// withDefaults returns cfg with defaults filled in, or why it is unusable.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = DefaultPluginDirs
	}
	if !networkName.MatchString(cfg.Name) {
		return cfg, fmt.Errorf("network name %q: must be letters, digits, '_', '.' or '-', starting with a letter or digit", cfg.Name)
	}
	if err := validateIfName(cfg.Bridge); err != nil {
		return cfg, fmt.Errorf("bridge: %w", err)
	}
	if !cfg.Subnet.IsValid() {
		return cfg, errors.New("subnet is required")
	}
	if !cfg.Subnet.Addr().Is4() {
		return cfg, fmt.Errorf("subnet %s: only IPv4 is supported", cfg.Subnet)
	}
	if cfg.Subnet.Masked() != cfg.Subnet {
		return cfg, fmt.Errorf("subnet %s has host bits set; did you mean %s", cfg.Subnet, cfg.Subnet.Masked())
	}
	if cfg.Subnet.Bits() > 30 {
		return cfg, fmt.Errorf("subnet %s is too small for a gateway and containers (at most /30)", cfg.Subnet)
	}
	if cfg.DataDir == "" {
		return cfg, errors.New("data dir is required (IPAM leases and libcni's cache go there, never to /var/lib/cni)")
	}
	if cfg.NetnsPrefix == "" {
		return cfg, errors.New("netns prefix is required (container netns names are prefix+id)")
	}
	if strings.ContainsAny(cfg.NetnsPrefix, "/\x00") {
		return cfg, fmt.Errorf("netns prefix %q contains '/' or NUL", cfg.NetnsPrefix)
	}
	if cfg.MTU < 0 || cfg.MTU > 65535 {
		return cfg, fmt.Errorf("mtu %d out of range", cfg.MTU)
	}
	return cfg, nil
}

// gateway is the subnet's first address, which the bridge holds.
func gateway(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }

func validateIfName(name string) error {
	switch {
	case name == "":
		return errors.New("interface name is empty")
	case len(name) > 15:
		return fmt.Errorf("interface name %q is %d bytes, Linux allows at most 15", name, len(name))
	case strings.ContainsAny(name, "/: \t\n"):
		return fmt.Errorf("interface name %q contains '/', ':' or whitespace", name)
	}
	return nil
}

func validatePortMappings(ports []PortMapping) ([]PortMapping, error) {
	out := make([]PortMapping, len(ports))
	for i, p := range ports {
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		p.Protocol = strings.ToLower(p.Protocol)
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return nil, fmt.Errorf("port mapping %d: protocol %q, want tcp or udp", i, p.Protocol)
		}
		if p.HostPort < 1 || p.HostPort > 65535 || p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return nil, fmt.Errorf("port mapping %d: ports %d:%d out of range 1-65535", i, p.HostPort, p.ContainerPort)
		}
		out[i] = p
	}
	return out, nil
}

// The JSON shapes of the plugins' configuration (only what is set).
type (
	confList struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []any  `json:"plugins"`
	}
	bridgeConf struct {
		Type        string   `json:"type"`
		Bridge      string   `json:"bridge"`
		IsGateway   bool     `json:"isGateway"`
		IPMasq      bool     `json:"ipMasq"`
		HairpinMode bool     `json:"hairpinMode"`
		MTU         int      `json:"mtu,omitempty"`
		IPAM        ipamConf `json:"ipam"`
	}
	ipamConf struct {
		Type    string        `json:"type"`
		Ranges  [][]ipamRange `json:"ranges"`
		Routes  []ipamRoute   `json:"routes"`
		DataDir string        `json:"dataDir"`
	}
	ipamRange struct {
		Subnet  string `json:"subnet"`
		Gateway string `json:"gateway"`
	}
	ipamRoute struct {
		Dst string `json:"dst"`
		GW  string `json:"gw"`
	}
	portmapConf struct {
		Type         string          `json:"type"`
		Capabilities map[string]bool `json:"capabilities"`
	}
)

// configList renders the plugin chain for cfg (defaults applied); portmap
// is appended only when withPortmap, so a node without iptables works as
// long as no container asks for host ports.
func configList(cfg Config, ipamDir string, withPortmap bool) ([]byte, error) {
	gw := gateway(cfg.Subnet).String()
	plugins := []any{bridgeConf{
		Type:        "bridge",
		Bridge:      cfg.Bridge,
		IsGateway:   true,
		IPMasq:      false, // never NAT: no container packet is meant to leave the machine
		HairpinMode: true,
		MTU:         cfg.MTU,
		IPAM: ipamConf{
			Type:    "host-local",
			Ranges:  [][]ipamRange{{{Subnet: cfg.Subnet.String(), Gateway: gw}}},
			Routes:  []ipamRoute{{Dst: "0.0.0.0/0", GW: gw}},
			DataDir: ipamDir,
		},
	}}
	if withPortmap {
		plugins = append(plugins, portmapConf{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}})
	}
	b, err := json.MarshalIndent(confList{CNIVersion: cniVersion, Name: cfg.Name, Plugins: plugins}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render cni config %s: %w", cfg.Name, err)
	}
	return b, nil
}
