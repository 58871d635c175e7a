package netlab

import (
	"errors"
	"fmt"
)

func (n Node) validate() error {
	if err := ValidateNetnsName(n.Netns); err != nil {
		return err
	}
	if err := ValidateInterfaceName(n.HostVeth); err != nil {
		return fmt.Errorf("host veth: %w", err)
	}
	if err := ValidateInterfaceName(n.Bridge); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	if !n.Addr.IsValid() {
		return errors.New("node address is not set")
	}
	if n.Addr.Masked().Addr() == n.Addr.Addr() && n.Addr.Bits() < n.Addr.Addr().BitLen() {
		return fmt.Errorf("node address %s is a network address, want a host address with its prefix length (e.g. 10.100.0.2/24)", n.Addr)
	}
	return nil
}
