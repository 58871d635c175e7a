package netlab

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsupported is returned by every function on platforms other than
// Linux, which have no network namespaces or netlink.
var ErrUnsupported = errors.New("netlab: only supported on linux")

// MaxInterfaceName is the longest interface name Linux accepts (IFNAMSIZ-1).
const MaxInterfaceName = 15

// ValidateInterfaceName reports whether name can be a Linux interface name:
// 1 to 15 bytes, no '/', ':' or whitespace, not "." or "..".
func ValidateInterfaceName(name string) error {
	switch {
	case name == "":
		return errors.New("interface name is empty")
	case len(name) > MaxInterfaceName:
		return fmt.Errorf("interface name %q is %d bytes, Linux allows at most %d", name, len(name), MaxInterfaceName)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	case strings.ContainsAny(name, "/: \t\n\r\v\f"):
		return fmt.Errorf("interface name %q contains '/', ':' or whitespace", name)
	}
	return nil
}

// ValidateNetnsName reports whether name can be a named network namespace,
// that is a file name under /run/netns.
func ValidateNetnsName(name string) error {
	switch {
	case name == "":
		return errors.New("netns name is empty")
	case len(name) > 255:
		return fmt.Errorf("netns name %q is longer than 255 bytes", name)
	case name == "." || name == "..":
		return fmt.Errorf("netns name %q is not allowed", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("netns name %q contains '/' or NUL", name)
	}
	return nil
}
