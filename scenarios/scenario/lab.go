package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"flotilla/internal/text"
	"flotilla/scenarios/lab"
)

// OwnLab is a throwaway lab a run starts: in a temporary directory of its
// own, on a free block of ports.
type OwnLab struct {
	*lab.Lab
	// Root is the temporary directory the lab lives in.
	Root     string
	BasePort int
	Took     time.Duration
}

// labAttempts bounds how many port blocks StartLab tries.
const labAttempts = 8

// StartLab starts the lab a scenario asks for with binary (a flotilla
// executable) in a new temporary directory, on a block of ports picked at
// random among those free (another lab, or anything else, may hold one:
// then another block is tried). name names the lab.
func StartLab(ctx context.Context, spec LabSpec, name, binary string) (*OwnLab, error) {
	root, err := os.MkdirTemp("", "flotilla-scenario-")
	if err != nil {
		return nil, err
	}
	// As lab up: a containerd lab, whose nodes listen beyond loopback,
	// has TLS and ACLs (the lab's client carries its certificate and
	// token).
	secure := spec.Runtime == RuntimeContainerd
	cfg := lab.Config{Name: name, Servers: spec.Servers, Agents: spec.Agents, Runtime: spec.Runtime,
		Root: root, Binary: binary, ReadyTimeout: 60 * time.Second, TLS: secure, ACL: secure}
	start := time.Now()
	for attempt := 0; attempt < labAttempts; attempt++ {
		// Blocks of 100 from 20000 to 31900: below Linux's ephemeral
		// ports, and each block's hundreds pick its own loopback ranges.
		cfg.BasePort = 20000 + rand.IntN(120)*100
		var l *lab.Lab
		l, err = lab.Up(ctx, cfg, io.Discard)
		if err == nil {
			return &OwnLab{Lab: l, Root: root, BasePort: cfg.BasePort, Took: time.Since(start)}, nil
		}
		if !strings.Contains(err.Error(), "in use") || ctx.Err() != nil {
			break
		}
	}
	os.RemoveAll(root)
	return nil, fmt.Errorf("start a lab: %w", err)
}

// Teardown stops every process of the lab and removes its directory.
func (o *OwnLab) Teardown() error {
	err := o.Down(io.Discard)
	return errors.Join(err, os.RemoveAll(o.Root))
}

// Servers lists the lab's servers (s1, s2, ...).
func (o *OwnLab) Servers() []string {
	var out []string
	for _, p := range o.Processes {
		if p.Role == lab.RoleServer {
			out = append(out, p.Name)
		}
	}
	return out
}

// Describe says what the lab is, for a run's introduction.
func (o *OwnLab) Describe() string {
	servers := len(o.Servers())
	return fmt.Sprintf("lab %s: %s, %s, runtime %s, up in %.1fs (%s)",
		o.Name, text.Count(servers, "server"), text.Count(len(o.Processes)-servers, "agent"), o.Runtime, o.Took.Seconds(), o.Dir)
}
