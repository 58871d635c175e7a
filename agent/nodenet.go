package agent

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
)

// NodeNetwork is what the agent needs from a real node's own network
// (network/netlab on Linux): the services' VIPs as local addresses, so that
// the node's proxy can own them, and host-gw routes to every other node's
// pod subnet via that node's address. Sim nodes, whose containers live on
// loopback, have none.
type NodeNetwork interface {
	// SetVIPs makes exactly these addresses the node's VIPs.
	SetVIPs(vips []netip.Addr) error
	// SetRoutes makes exactly these routes the node's routes to its peers.
	SetRoutes(routes []PeerRoute) error
}

// PeerRoute sends a peer node's pod subnet to that node's address.
type PeerRoute struct {
	Subnet netip.Prefix
	Via    netip.Addr
}

// serviceVIPs is every VIP of services with one, sorted.
func serviceVIPs(services []api.ServiceEndpoints) []netip.Addr {
	var vips []netip.Addr
	for _, se := range services {
		if vip, err := netip.ParseAddr(se.VIP); err == nil && !se.Headless {
			vips = append(vips, vip)
		}
	}
	slices.SortFunc(vips, netip.Addr.Compare)
	return slices.Compact(vips)
}

// peerRoutes routes every other node's subnet via its address; nodes
// without a parsable subnet or address (sim, fake, not yet allocated) are
// left out.
func peerRoutes(self string, nodes []*api.Node) []PeerRoute {
	var routes []PeerRoute
	for _, n := range nodes {
		if n.Name == self {
			continue
		}
		subnet, err1 := netip.ParsePrefix(n.Subnet)
		via, err2 := netip.ParseAddr(n.Address)
		if err1 != nil || err2 != nil || via.IsLoopback() || subnet.Addr().IsLoopback() {
			continue
		}
		routes = append(routes, PeerRoute{Subnet: subnet.Masked(), Via: via})
	}
	slices.SortFunc(routes, func(a, b PeerRoute) int { return a.Subnet.Addr().Compare(b.Subnet.Addr()) })
	return routes
}

// routesLoop long-polls the node list and keeps the routes to the other
// nodes' pod subnets in step with it.
func (a *Agent) routesLoop(ctx context.Context) {
	var index uint64
	var last []PeerRoute
	applied := false
	for {
		call, cancel := clock.WithTimeout(ctx, a.cfg.Clock, 35*time.Second)
		nodes, next, err := a.servers.Nodes(call, api.QueryOptions{Index: index, Wait: 30 * time.Second})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.cfg.Logger.Warn("watch nodes", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-a.cfg.Clock.After(time.Second):
			}
			continue
		}
		routes := peerRoutes(a.cfg.Name, nodes)
		if !applied || !slices.Equal(routes, last) {
			if err := a.cfg.Network.SetRoutes(routes); err != nil {
				// The index stays: the next query answers at once and the
				// routes are tried again.
				a.cfg.Logger.Warn("routes to other nodes", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-a.cfg.Clock.After(time.Second):
				}
				continue
			}
			last, applied = routes, true
		}
		index = next
	}
}
