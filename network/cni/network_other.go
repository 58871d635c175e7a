//go:build !linux

package cni

import (
	"context"
	"errors"
	"net/netip"
)

var errUnsupported = errors.New("cni: only supported on linux")

// Network is one node's bridge network; on this platform New always fails.
type Network struct{ gateway netip.Addr }

// New fails: CNI needs Linux network namespaces.
func New(cfg Config) (*Network, error) {
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	return nil, errUnsupported
}

// Gateway is the bridge's address.
func (n *Network) Gateway() netip.Addr { return n.gateway }

// Setup is not supported on this platform.
func (n *Network) Setup(ctx context.Context, id string, hostPorts []PortMapping) (string, netip.Addr, error) {
	return "", netip.Addr{}, errUnsupported
}

// Remove is not supported on this platform.
func (n *Network) Remove(ctx context.Context, id string) error { return errUnsupported }

// Check is not supported on this platform.
func (n *Network) Check(ctx context.Context, id string) error { return errUnsupported }

// Lookup is not supported on this platform.
func (n *Network) Lookup(ctx context.Context, id string) (netip.Addr, error) {
	return netip.Addr{}, errUnsupported
}
