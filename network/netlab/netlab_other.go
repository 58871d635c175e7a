//go:build !linux

package netlab

import "net/netip"

// NetnsDir is where named network namespaces would be pinned.
const NetnsDir = "/run/netns"

// NetnsPath returns the path a named network namespace is pinned at.
func NetnsPath(name string) string { return NetnsDir + "/" + name }

// CreateNetns is not supported on this platform.
func CreateNetns(name string) error { return ErrUnsupported }

// DeleteNetns is not supported on this platform.
func DeleteNetns(name string) error { return ErrUnsupported }

// ListNetns is not supported on this platform.
func ListNetns(prefix string) ([]string, error) { return nil, ErrUnsupported }

// NetnsExists is not supported on this platform.
func NetnsExists(name string) (bool, error) { return false, ErrUnsupported }

// Do is not supported on this platform.
func Do(name string, fn func() error) error { return ErrUnsupported }

// EnsureBridge is not supported on this platform.
func EnsureBridge(name string, addr netip.Prefix) error { return ErrUnsupported }

// DeleteLink is not supported on this platform.
func DeleteLink(name string) error { return ErrUnsupported }

// SetLinkAlias is not supported on this platform.
func SetLinkAlias(name, alias string) error { return ErrUnsupported }

// LinkAlias is not supported on this platform.
func LinkAlias(name string) (string, bool, error) { return "", false, ErrUnsupported }

// AddUnreachable is not supported on this platform.
func AddUnreachable(dst netip.Prefix, owner uint32) error { return ErrUnsupported }

// DeleteUnreachable is not supported on this platform.
func DeleteUnreachable(dst netip.Prefix, owner uint32) error { return ErrUnsupported }

// SyncRoutes is not supported on this platform.
func SyncRoutes(routes []Route) error { return ErrUnsupported }

// SyncVIPs is not supported on this platform.
func SyncVIPs(dummy string, vips []netip.Addr) error { return ErrUnsupported }

// AddNode is not supported on this platform.
func AddNode(n Node) error { return ErrUnsupported }

// RemoveNode is not supported on this platform.
func RemoveNode(n Node) error { return ErrUnsupported }

// Partition is not supported on this platform.
func Partition(hostVeth string) error { return ErrUnsupported }

// Heal is not supported on this platform.
func Heal(hostVeth string) error { return ErrUnsupported }
