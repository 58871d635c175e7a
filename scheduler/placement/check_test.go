package placement

import (
	"testing"

	"flotilla/api"
)

func TestCheck(t *testing.T) {
	small := api.Resources{CPU: 500, Memory: 256 * mi}
	zone := func(z string) map[string]string { return map[string]string{"zone": z} }
	tests := []struct {
		name string
		node Node
		req  Request
		want string
	}{
		{"ready empty node fits", Node{Name: "n1", Status: api.NodeReady, Eligible: true, Capacity: api.Resources{CPU: core, Memory: gi}}, Request{Resources: small}, ""},
		{"down node refused", Node{Status: api.NodeDown, Eligible: true, Capacity: api.Resources{CPU: core, Memory: gi}}, Request{Resources: small}, ReasonDown},
		{"draining node refused", Node{Status: api.NodeDraining, Eligible: true, Capacity: api.Resources{CPU: core, Memory: gi}}, Request{Resources: small}, ReasonDraining},
		{"unknown status counts as down", Node{Status: "", Eligible: true, Capacity: api.Resources{CPU: core, Memory: gi}}, Request{Resources: small}, ReasonDown},
		{"ineligible node refused", Node{Status: api.NodeReady, Capacity: api.Resources{CPU: core, Memory: gi}}, Request{Resources: small}, ReasonIneligible},
		{"status comes before eligibility", Node{Status: api.NodeDraining}, Request{Resources: small}, ReasonDraining},

		{"== matches its label", Node{Status: api.NodeReady, Eligible: true, Labels: zone("a"), Capacity: api.Resources{CPU: core, Memory: gi}}, Request{Constraints: constraints(t, "zone == a")}, ""},
		{"== refuses another value", Node{Status: api.NodeReady, Eligible: true, Labels: zone("b")}, Request{Constraints: constraints(t, "zone == a")}, `constraint "zone == a"`},
		{"== refuses a missing label", Node{Status: api.NodeReady, Eligible: true}, Request{Constraints: constraints(t, "zone == a")}, `constraint "zone == a"`},
		{"!= refuses the value", Node{Status: api.NodeReady, Eligible: true, Labels: zone("b")}, Request{Constraints: constraints(t, "zone != b")}, `constraint "zone != b"`},
		{"!= accepts another value", Node{Status: api.NodeReady, Eligible: true, Labels: zone("a")}, Request{Constraints: constraints(t, "zone != b")}, ""},
		{"!= accepts a missing label", Node{Status: api.NodeReady, Eligible: true}, Request{Constraints: constraints(t, "zone != b")}, ""},
		{"in accepts a listed value", Node{Status: api.NodeReady, Eligible: true, Labels: zone("b")}, Request{Constraints: constraints(t, "zone in (a, b)")}, ""},
		{"in refuses an unlisted value", Node{Status: api.NodeReady, Eligible: true, Labels: zone("c")}, Request{Constraints: constraints(t, "zone in (a, b)")}, `constraint "zone in (a, b)"`},
		{"in refuses a missing label", Node{Status: api.NodeReady, Eligible: true}, Request{Constraints: constraints(t, "zone in (a, b)")}, `constraint "zone in (a, b)"`},
		{"not in refuses a listed value", Node{Status: api.NodeReady, Eligible: true, Labels: zone("a")}, Request{Constraints: constraints(t, "zone not in (a, b)")}, `constraint "zone not in (a, b)"`},
		{"not in accepts an unlisted value", Node{Status: api.NodeReady, Eligible: true, Labels: zone("c")}, Request{Constraints: constraints(t, "zone not in (a, b)")}, ""},
		{"not in accepts a missing label", Node{Status: api.NodeReady, Eligible: true}, Request{Constraints: constraints(t, "zone not in (a, b)")}, ""},
		{"node.name matches the name, not a label", Node{Name: "n1", Status: api.NodeReady, Eligible: true, Labels: map[string]string{"node.name": "n2"}}, Request{Constraints: constraints(t, "node.name == n1")}, ""},
		{"node.name refuses other nodes", Node{Name: "n2", Status: api.NodeReady, Eligible: true}, Request{Constraints: constraints(t, "node.name != n2")}, `constraint "node.name != n2"`},
		{"first refused constraint is named", Node{Status: api.NodeReady, Eligible: true, Labels: map[string]string{"zone": "a", "disk": "hdd"}}, Request{Constraints: constraints(t, "zone == a", "disk == ssd", "zone == b")}, `constraint "disk == ssd"`},
		{"eligibility comes before constraints", Node{Status: api.NodeReady, Labels: zone("b")}, Request{Constraints: constraints(t, "zone == a")}, ReasonIneligible},
		{"constraints come before resources", Node{Status: api.NodeReady, Eligible: true, Labels: zone("b")}, Request{Resources: small, Constraints: constraints(t, "zone == a")}, `constraint "zone == a"`},

		{"cpu exact fit", Node{Status: api.NodeReady, Eligible: true, Capacity: api.Resources{CPU: core, Memory: gi}, Allocated: api.Resources{CPU: 500}}, Request{Resources: small}, ""},
		{"cpu one millicore over", Node{Status: api.NodeReady, Eligible: true, Capacity: api.Resources{CPU: core, Memory: gi}, Allocated: api.Resources{CPU: 501}}, Request{Resources: small}, ReasonCPU},
		{"memory exact fit", Node{Status: api.NodeReady, Eligible: true, Capacity: api.Resources{CPU: core, Memory: gi}, Allocated: api.Resources{Memory: gi - 256*mi}}, Request{Resources: small}, ""},
		{"memory one byte over", Node{Status: api.NodeReady, Eligible: true, Capacity: api.Resources{CPU: core, Memory: gi}, Allocated: api.Resources{Memory: gi - 256*mi + 1}}, Request{Resources: small}, ReasonMemory},
		{"cpu comes before memory", Node{Status: api.NodeReady, Eligible: true}, Request{Resources: small}, ReasonCPU},
		{"over-committed node takes nothing", Node{Status: api.NodeReady, Eligible: true, Capacity: api.Resources{CPU: core, Memory: gi}, Allocated: api.Resources{CPU: 2 * core, Memory: gi}}, Request{Resources: api.Resources{CPU: 1}}, ReasonCPU},
		{"empty request fits a full node", Node{Status: api.NodeReady, Eligible: true, Capacity: api.Resources{CPU: core, Memory: gi}, Allocated: api.Resources{CPU: core, Memory: gi}}, Request{}, ""},

		{"free host port fits", Node{Status: api.NodeReady, Eligible: true, HostPorts: map[int]bool{9090: true}}, Request{HostPorts: []int{8080}}, ""},
		{"nil host ports fit", Node{Status: api.NodeReady, Eligible: true}, Request{HostPorts: []int{8080}}, ""},
		{"host port in use refused", Node{Status: api.NodeReady, Eligible: true, HostPorts: map[int]bool{8080: true}}, Request{HostPorts: []int{8080}}, "port 8080 in use"},
		{"first taken host port is named", Node{Status: api.NodeReady, Eligible: true, HostPorts: map[int]bool{9090: true}}, Request{HostPorts: []int{8080, 9090}, Constraints: constraints(t, "zone != b")}, "port 9090 in use"},
		{"port released (false) is free", Node{Status: api.NodeReady, Eligible: true, HostPorts: map[int]bool{8080: false}}, Request{HostPorts: []int{8080}}, ""},
		{"memory comes before host ports", Node{Status: api.NodeReady, Eligible: true, Capacity: api.Resources{CPU: core}, HostPorts: map[int]bool{8080: true}}, Request{Resources: small, HostPorts: []int{8080}}, ReasonMemory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Check(&tt.node, &tt.req); got != tt.want {
				t.Errorf("Check = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckDoesNotChangeTheNode(t *testing.T) {
	n := readyNode("n1", core, gi)
	req := Request{Resources: api.Resources{CPU: 100, Memory: mi}, HostPorts: []int{8080}}
	Check(n, &req)
	if n.Allocated != (api.Resources{}) || n.HostPorts != nil || n.ServiceReplicas != 0 {
		t.Errorf("Check changed the node: %+v", n)
	}
}
