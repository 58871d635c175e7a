package agent

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"flotilla/api"
)

// endpointsLoop long-polls every service's endpoints and routes and hands
// them to the node's DNS server and proxy: a replica that turns ready is
// routable here one watch round trip later.
func (a *Agent) endpointsLoop(ctx context.Context) {
	var index uint64
	var vips []netip.Addr // as last made local; endpoint changes mostly leave them alone
	vipsSet := false
	for {
		call, cancel := context.WithTimeout(ctx, 35*time.Second)
		list, next, err := a.servers.Endpoints(call, api.QueryOptions{Index: index, Wait: 30 * time.Second})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.cfg.Logger.Warn("watch endpoints", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-a.cfg.Clock.After(time.Second):
			}
			continue
		}
		index = next
		services := make([]api.ServiceEndpoints, len(list))
		for i, se := range list {
			services[i] = *se
		}
		if a.dns != nil {
			a.dns.Update(services)
		}
		if a.cfg.Network != nil {
			// The proxy can own a VIP only once it is a local address.
			if want := serviceVIPs(services); !vipsSet || !slices.Equal(want, vips) {
				if err := a.cfg.Network.SetVIPs(want); err != nil {
					a.cfg.Logger.Warn("service VIPs", "err", err)
				} else {
					vips, vipsSet = want, true
				}
			}
		}
		if a.proxy != nil {
			if err := a.proxy.Update(services); err != nil {
				a.cfg.Logger.Warn("proxy update", "err", err)
			}
		}
	}
}

// trafficInterval is how often the proxy's figures go to the servers.
const trafficInterval = 2 * time.Second

// trafficLoop reports the proxy's figures to the servers, where canary
// analysis and autoscaling read them.
func (a *Agent) trafficLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.cfg.Clock.After(trafficInterval):
		}
		reports := a.proxy.Traffic()
		if len(reports) == 0 {
			continue
		}
		call, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := a.servers.ReportTraffic(call, a.cfg.Name, reports)
		cancel()
		if err != nil && ctx.Err() == nil {
			a.cfg.Logger.Debug("report traffic", "err", err)
		}
	}
}
