// Package containerd runs a node's containers on containerd through its v2
// Go client. It works against Debian's containerd 1.6 daemon: it uses only
// the services that daemon has (containers, tasks, content, images,
// snapshots, leases, namespaces, events), never the transfer or sandbox
// APIs.
//
// Each node has a containerd namespace of its own, "flotilla-"+NODE, so that
// several lab nodes share one daemon. Everything a container is lives in
// containerd (labels on the container record: allocation, service, IP,
// start time, why it was killed) or in the node's state directory (the log
// file, the mounted files), never only in this process's memory: a new
// Runtime on the same namespace re-adopts the containers an earlier agent
// started, which keep running across agent restarts. The only state a
// Runtime keeps is a cache (the images it resolved, file digests, the
// previous CPU sample of each container).
//
// What must be made together is not cut short by a caller that gives up
// (the agent stopping): Create's network, snapshot and record, and Start's
// task and process, run to their end on a context of their own, bounded
// by a timeout. What a killed agent or a purge racing a start still leaves
// behind, a shim whose container containerd no longer has (orphans.go),
// is found by its command line and reaped: by Create and Start for their
// ID, by Purge for the whole namespace.
//
// A task's output goes to StateDir/containers/ID/log through a small log
// driver the shim runs (logdriver.go), not through the agent, so that
// logging goes on while the agent is down.
//
// Images come from the demo image, which the runtime builds itself
// (DemoImagePrefix: the flotilla binary in one layer, `flotilla workload`
// as entrypoint, the toolbox commands as symlinks), from an OCI archive
// ("oci-archive:PATH") or from a registry pull.
//
// The package owns the containerd namespace of its node and the
// StateDir/containers tree. It must not touch other namespaces, set up
// networking itself (the Network it is given attaches containers: CNI in
// production, nothing when containers share the host's network), kill
// containers on Close (they outlive the agent), restart a container that
// exited (that is the agent's decision), or pull anything but an image a
// spec names.
package containerd
