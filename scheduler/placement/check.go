package placement

import (
	"strconv"

	"flotilla/api"
)

// Reasons a node is infeasible (fixed strings, used as map keys and in
// messages). A refused constraint reads `constraint "zone != b"` and a
// taken host port `port 8080 in use`.
const (
	ReasonDown       = "node down"
	ReasonDraining   = "node draining"
	ReasonIneligible = "node ineligible"
	ReasonCPU        = "insufficient cpu"
	ReasonMemory     = "insufficient memory"
)

// Check returns "" when req fits on n, else the first reason it does not,
// in this order: status, eligibility, constraints, cpu, memory, host ports.
// A node whose status is neither ready nor draining counts as down.
func Check(n *Node, req *Request) string {
	v := staticVerdict(n, req)
	if v == fits {
		v = dynamicVerdict(n, req)
	}
	return v.text(req)
}

// verdict is Check's answer as a small number, so that the Placer can count
// it without building strings: fits, one of the fixed reasons, or
// firstRef+i, naming the i-th constraint of the request, or (past the
// constraints) one of its host ports.
type verdict int32

const (
	fits verdict = iota
	down
	draining
	ineligible
	noCPU
	noMemory
	firstRef
)

// staticVerdict checks what placing cannot change: status, eligibility and
// constraints.
func staticVerdict(n *Node, req *Request) verdict {
	switch n.Status {
	case api.NodeReady:
	case api.NodeDraining:
		return draining
	default:
		return down
	}
	if !n.Eligible {
		return ineligible
	}
	for i := range req.Constraints {
		if !req.Constraints[i].Matches(n.Name, n.Labels) {
			return firstRef + verdict(i)
		}
	}
	return fits
}

// dynamicVerdict checks what placing uses up: cpu, memory and host ports.
// It compares against what is free rather than adding, so that huge
// values cannot overflow.
func dynamicVerdict(n *Node, req *Request) verdict {
	if req.Resources.CPU > n.Capacity.CPU-n.Allocated.CPU {
		return noCPU
	}
	if req.Resources.Memory > n.Capacity.Memory-n.Allocated.Memory {
		return noMemory
	}
	if n.HostPorts != nil {
		for i, port := range req.HostPorts {
			if n.HostPorts[port] {
				return firstRef + verdict(len(req.Constraints)+i)
			}
		}
	}
	return fits
}

func (v verdict) text(req *Request) string {
	switch v {
	case fits:
		return ""
	case down:
		return ReasonDown
	case draining:
		return ReasonDraining
	case ineligible:
		return ReasonIneligible
	case noCPU:
		return ReasonCPU
	case noMemory:
		return ReasonMemory
	}
	i := int(v - firstRef)
	if i < len(req.Constraints) {
		return "constraint " + strconv.Quote(req.Constraints[i].String())
	}
	return "port " + strconv.Itoa(req.HostPorts[i-len(req.Constraints)]) + " in use"
}
