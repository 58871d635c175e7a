// Package runtime holds what every container runtime shares: the container
// spec the agent hands over, the status and figures a runtime reports, and
// the errors it returns. The agent declares the interface it consumes
// (agent.Runtime); runtime/sim and runtime/containerd implement it, and
// runtime/runtimetest is the contract suite both must pass.
package runtime

import (
	"errors"
	"time"

	"flotilla/api"
)

// ContainerSpec is one allocation's container as the agent asks for it.
type ContainerSpec struct {
	// ID is the allocation ID; a runtime names the container after it.
	ID        string
	Namespace string
	Service   string
	Revision  int
	// Node is the node's name, given to the workload (FLOTILLA_NODE).
	Node    string
	Image   string
	Command []string
	Args    []string
	Env     map[string]string
	// Ports the container listens on; the first one is its address's port.
	Ports     []api.Port
	Resources api.Resources
	// Files are mounted read-only at their paths.
	Files map[string][]byte
	// Mounts are the configs and secrets, each a read-only directory of
	// files (mounts.go).
	Mounts []FileMount
}

// State is where a container is in its life.
type State string

// Container states.
const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
)

// Status is what a runtime says about one container.
type Status struct {
	ID    string
	State State
	// Namespace, Service and Revision are what the container was created
	// for, as the runtime recorded it (containerd: its labels); empty when
	// the runtime does not know. The agent checks them before adopting a
	// container it finds.
	Namespace string
	Service   string
	Revision  int
	// IP is the container's own address (sim: on the node's loopback /24).
	IP string
	// ExitCode and Error say how an exited container ended: 0 and "" for a
	// clean exit, 137 when it was killed after its grace period.
	ExitCode   int
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
}

// Stats are a container's resource figures.
type Stats struct {
	// CPU is the recent CPU use in millicores.
	CPU api.CPU
	// Memory is the resident memory.
	Memory api.Memory
	// Requests served so far (the demo workload counts them; 0 otherwise).
	Requests uint64
}

// Errors runtimes return, wrapped with %w.
var (
	ErrNotFound = errors.New("container not found")
	ErrExists   = errors.New("container already exists")
	// ErrRunning: the operation needs a stopped container.
	ErrRunning = errors.New("container is running")
	// ErrNotRunning: the operation needs a running container.
	ErrNotRunning = errors.New("container is not running")
	// ErrInvalidSpec: the container can never run as specified (bad
	// arguments, an image that does not exist); retrying will not help.
	ErrInvalidSpec = errors.New("invalid container spec")
)
