// Package toolbox is a handful of busybox-style commands (echo, env,
// printenv, hostname, cat, ls, true, false, sleep, wget, fetch, nslookup)
// and a small shell (sh -c 'a; b && c || d', shell.go) so that `flotilla
// exec` has something to run: inside the sim runtime, where a container is
// a goroutine, and inside the demo image, where /bin/echo and friends are
// symlinks to the flotilla binary (multi-call, as busybox is).
//
// It owns the commands' behaviour and exit codes (127 for an unknown
// command, as a shell says). It must not touch the host: files come from the
// fs.FS it is handed, the environment from the map, output goes to the
// writers, and the shell runs only these commands (no processes, pipes or
// redirections); only wget, fetch and nslookup reach the network, with a
// timeout, resolving names through the node's cluster DNS server when the
// runtime names one (WithResolver).
package toolbox
