package toolbox

import (
	"context"
	"errors"
	"net"
	"testing"

	"flotilla/internal/vnet"
)

// TestLookupsOnASimulatedNetworkNeverAskTheHost: without a Resolver, a
// command on a simulated network finds no name rather than asking the
// host's resolvers, which are not on it.
func TestLookupsOnASimulatedNetworkNeverAskTheHost(t *testing.T) {
	ctx := WithNet(context.Background(), vnet.NewMemory())
	_, _, err := lookup(ctx, "localhost")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("lookup of localhost on a simulated network without a resolver: %v, want not found", err)
	}
	addrs, _, err := lookup(ctx, "127.1.2.3")
	if err != nil || len(addrs) != 1 || addrs[0].String() != "127.1.2.3" {
		t.Errorf("an IP address is itself: %v, %v", addrs, err)
	}
}
