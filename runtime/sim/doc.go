// Package sim is the embedded container runtime: no root, no containerd. A
// container is the demo workload (runtime/workload) running in a goroutine
// of the agent's process, listening on its own loopback address taken from
// the node's /24 inside 127.0.0.0/8 (.2 to .254; .1 is the node's).
// Listening on 127.x.y.z needs no root on Linux.
//
// Every image runs the demo workload: Image and Command are ignored, Args
// are the workload's flags (workload.ParseArgs; a bad one makes Create
// fail), Env is its environment plus FLOTILLA_NODE, FLOTILLA_ALLOC and
// HOSTNAME (service + "-" + the first 5 characters of the ID), and Files
// are what `cat` sees in Exec, which runs runtime/toolbox commands (names
// they look up go to the node's cluster DNS server, Config.DNS, with the
// container's namespace as a search domain). The workload's CPU and memory
// are a model of the load it serves (Simulated), not real usage. A memory limit below the model's figure gets the
// container OOM-killed (137) at start, as a cgroup would.
//
// What it owns: containers' lifecycle, addresses, bounded logs and exit
// status. What it must not do: outlive its containers' goroutines (none
// survives Stop, Remove or Close), touch the host's files, or keep anything
// across a restart of the process: containers die with it, as with a node,
// so List after New is empty.
package sim
