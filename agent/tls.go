package agent

import (
	"crypto/tls"
	"net"
)

// secureHTTP wraps the agent's API listener in mutual TLS when the agent
// has it (Config.TLS): exec, logs, allocations and metrics then answer
// only clients with a certificate of the CA (users', servers').
func (c *Config) secureHTTP(ln net.Listener) net.Listener {
	if c.TLS == nil {
		return ln
	}
	return tls.NewListener(ln, c.TLS.ServerConfig(""))
}
