package scheduler

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// LocalCluster runs several real servers in this process on loopback
// ports: for tests, the benchmark and in-process labs. Servers can be
// killed and restarted with their data, as processes can.
type LocalCluster struct {
	dir   string
	tweak func(*Config)

	mu      sync.Mutex
	servers []*localServer
}

type localServer struct {
	srv    *Server
	cfg    Config
	cancel context.CancelFunc
	done   chan error
}

// StartLocalCluster starts n servers named s1..sN under dir, bootstrapping
// once all n have joined. tweak, when set, adjusts each server's config.
func StartLocalCluster(dir string, n int, tweak func(*Config)) (*LocalCluster, error) {
	c := &LocalCluster{dir: dir, tweak: tweak}
	for i := 1; i <= n; i++ {
		cfg := Config{
			Name: fmt.Sprintf("s%d", i), DataDir: filepath.Join(dir, fmt.Sprintf("s%d", i)),
			HTTP: "127.0.0.1:0", Raft: "127.0.0.1:0", Gossip: "127.0.0.1:0", BootstrapExpect: n,
		}
		if tweak != nil {
			tweak(&cfg)
		}
		srv, err := New(cfg)
		if err != nil {
			// Run the ones already made, so that Close releases them.
			for _, ls := range c.servers {
				c.run(ls)
			}
			c.Close()
			return nil, err
		}
		// Later restarts reuse the addresses the first start picked.
		cfg.HTTP, cfg.Raft, cfg.Gossip = srv.HTTPAddr(), srv.RaftAddr(), srv.GossipAddr()
		c.servers = append(c.servers, &localServer{srv: srv, cfg: cfg})
	}
	for _, ls := range c.servers {
		for _, o := range c.servers {
			if o != ls {
				ls.cfg.Join = append(ls.cfg.Join, o.cfg.Gossip)
			}
		}
		ls.srv.SetJoin(ls.cfg.Join)
		c.run(ls)
	}
	return c, nil
}

func (c *LocalCluster) run(ls *localServer) {
	ctx, cancel := context.WithCancel(context.Background())
	ls.cancel, ls.done = cancel, make(chan error, 1)
	go func() { ls.done <- ls.srv.Run(ctx) }()
}

// Servers are the running servers, in name order.
func (c *LocalCluster) Servers() []*Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Server
	for _, ls := range c.servers {
		if ls.cancel != nil {
			out = append(out, ls.srv)
		}
	}
	return out
}

// HTTPAddrs are every server's API addresses, running or not.
func (c *LocalCluster) HTTPAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, ls := range c.servers {
		out = append(out, "http://"+ls.cfg.HTTP)
	}
	return out
}

// Leader is the server that currently leads, or nil.
func (c *LocalCluster) Leader() *Server {
	for _, s := range c.Servers() {
		if s.IsLeader() {
			return s
		}
	}
	return nil
}

// WaitForLeader waits for a leader until ctx ends.
func (c *LocalCluster) WaitForLeader(ctx context.Context) (*Server, error) {
	for {
		if l := c.Leader(); l != nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no leader: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (c *LocalCluster) find(name string) (*localServer, error) {
	for _, ls := range c.servers {
		if ls.cfg.Name == name {
			return ls, nil
		}
	}
	return nil, fmt.Errorf("no server %q", name)
}

// Kill stops a server abruptly (its peers see it fail) and waits until it
// has released its ports and files.
func (c *LocalCluster) Kill(name string) error {
	c.mu.Lock()
	ls, err := c.find(name)
	if err == nil && ls.cancel == nil {
		err = fmt.Errorf("server %s is not running", name)
	}
	var cancel context.CancelFunc
	if err == nil {
		cancel, ls.cancel = ls.cancel, nil
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	cancel()
	return <-ls.done
}

// Restart starts a killed server again with its data dir and addresses.
func (c *LocalCluster) Restart(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ls, err := c.find(name)
	if err != nil {
		return err
	}
	if ls.cancel != nil {
		return fmt.Errorf("server %s is running", name)
	}
	srv, err := New(ls.cfg)
	if err != nil {
		return err
	}
	ls.srv = srv
	c.run(ls)
	return nil
}

// Close stops every server.
func (c *LocalCluster) Close() {
	c.mu.Lock()
	var running []*localServer
	for _, ls := range c.servers {
		if ls.cancel != nil {
			ls.cancel()
			ls.cancel = nil
			running = append(running, ls)
		}
	}
	c.mu.Unlock()
	for _, ls := range running {
		<-ls.done
	}
}
