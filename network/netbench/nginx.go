package netbench

import (
	"fmt"
	"strings"
)

// nginxConfig is what the benchmark's nginx is configured with.
type nginxConfig struct {
	Workers  int    // worker_processes: one per core, as "auto"
	Dir      string // prefix: pid file, error log, temporary files
	Upstream string // IP:port of the upstream
	Listen   string // IP:port nginx listens on
	// Keepalive is the idle upstream connections each worker keeps; at
	// least the client connections, or nginx closes and reopens upstream
	// connections under load and the comparison is unfair to it.
	Keepalive int
}

// render writes nginx.conf: a reverse proxy with keep-alive on both sides
// and nothing that costs per request (no access log). The master process
// stays in the foreground (daemon off) so that it can be waited for; it
// is stopped gracefully with SIGQUIT, which it passes on to its workers
// and waits for.
func (c nginxConfig) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "worker_processes %d;\n", c.Workers)
	b.WriteString("daemon off;\nmaster_process on;\n")
	fmt.Fprintf(&b, "pid %s/nginx.pid;\n", c.Dir)
	fmt.Fprintf(&b, "error_log %s/error.log warn;\n", c.Dir)
	// Enough for every client and upstream connection on one worker.
	fmt.Fprintf(&b, "events { worker_connections %d; }\n", max(4096, 4*c.Keepalive))
	b.WriteString("http {\n")
	b.WriteString("  access_log off;\n")
	// A kept-alive client connection is not closed after 1,000 requests
	// (the default), as the Flotilla proxy does not close one either.
	b.WriteString("  keepalive_requests 1000000;\n")
	fmt.Fprintf(&b, "  client_body_temp_path %s;\n  proxy_temp_path %s;\n", c.Dir, c.Dir)
	fmt.Fprintf(&b, "  upstream app {\n    server %s;\n    keepalive %d;\n    keepalive_requests 1000000;\n  }\n", c.Upstream, c.Keepalive)
	b.WriteString("  server {\n")
	// reuseport: one listening socket per worker, so that the kernel
	// spreads client connections evenly over the workers; with one shared
	// socket a worker may take most of a few long-lived connections and
	// leave a core idle.
	fmt.Fprintf(&b, "    listen %s reuseport;\n", c.Listen)
	b.WriteString("    location / {\n")
	b.WriteString("      proxy_pass http://app;\n")
	b.WriteString("      proxy_http_version 1.1;\n")
	b.WriteString("      proxy_set_header Connection \"\";\n")
	// The same work as the Flotilla proxy's: it tells the upstream who
	// asked (X-Forwarded-For, -Host, -Proto), and the client which
	// revision, replica and node answered (three X-Flotilla-* fields).
	b.WriteString("      proxy_set_header Host $http_host;\n")
	b.WriteString("      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n")
	b.WriteString("      proxy_set_header X-Forwarded-Host $http_host;\n")
	b.WriteString("      proxy_set_header X-Forwarded-Proto $scheme;\n")
	b.WriteString("      add_header X-Flotilla-Revision 1;\n")
	b.WriteString("      add_header X-Flotilla-Endpoint $upstream_addr;\n")
	b.WriteString("      add_header X-Flotilla-Proxy $hostname;\n")
	b.WriteString("    }\n  }\n}\n")
	return b.String()
}
