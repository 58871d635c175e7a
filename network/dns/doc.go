// Package dns is the cluster DNS server every agent runs (on
// github.com/miekg/dns). It answers, with Kubernetes' conventions, the names
// of the zone (svc.flotilla. by default):
//
//	SERVICE.NAMESPACE.svc.flotilla.              A    the VIP, or a headless service's ready endpoints
//	ENDPOINTID.SERVICE.NAMESPACE.svc.flotilla.   A    that endpoint's address, ready or not
//	_PORT._tcp.SERVICE.NAMESPACE.svc.flotilla.   SRV  one per ready endpoint, targets in the additional section
//	svc.flotilla.                                SOA  also sent, in the authority section, with every negative answer
//
// A name of the zone that does not exist is NXDOMAIN; a name that exists
// (empty non-terminals such as NAMESPACE.svc.flotilla. included) but has no
// record of the type asked is NODATA. Names outside the zone are forwarded
// to the upstream resolvers, over the transport the client used, or REFUSED
// when there are none; names inside it never leave the server.
//
// Update replaces the whole record set at once: it builds an immutable index
// from lowercased name to ready-made records and swaps one pointer, so the
// query path takes no lock. UDP, where nearly all queries come, is read in
// batches by a few goroutines (udp.go), and the common query (A, AAAA or SRV
// of an existing name) is answered from an answer packed once per record
// set, without parsing or packing a message (fast.go); everything else goes
// through miekg's Unpack and Pack (answer.go). TCP is miekg's server.
//
// The package owns the records and the sockets. It must not watch the
// servers itself (the agent feeds it api.ServiceEndpoints) nor decide
// traffic policy, which belongs to network/proxy.
package dns
