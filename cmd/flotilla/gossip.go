package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"flotilla/api"
	"flotilla/network/gossip"
)

// gossipKeyFlags are the server's and the agent's --gossip-key and
// --gossip-key-file.
type gossipKeyFlags struct {
	fs   *pflag.FlagSet
	key  string
	file string
}

func (g *gossipKeyFlags) flags(f *pflag.FlagSet) {
	g.fs = f
	f.StringVar(&g.key, "gossip-key", "", "encrypt the gossip pool with this key, the base64 of 32 bytes (flotilla operator gossip keyring generate); ps shows it: prefer --gossip-key-file")
	f.StringVar(&g.file, "gossip-key-file", "", "encrypt the gossip pool with the key in this file (base64); once the data dir holds "+gossip.KeyringFileName+" (written at the first start, changed by every rotation), that keyring wins over the key")
}

// parse is the key the flags give, nil for none.
func (g *gossipKeyFlags) parse() ([]byte, error) {
	keySet, fileSet := g.fs.Changed("gossip-key"), g.fs.Changed("gossip-key-file")
	switch {
	case keySet && fileSet:
		return nil, errors.New("--gossip-key and --gossip-key-file: give one of them")
	case keySet:
		key, err := gossip.ParseKey(g.key)
		if err != nil {
			return nil, fmt.Errorf("--gossip-key: %w", err)
		}
		return key, nil
	case fileSet:
		// A file others may read is refused, as the keyring and the
		// bootstrap token file are.
		key, err := gossip.ReadKeyFile(g.file)
		var pathErr *fs.PathError
		switch {
		case errors.As(err, &pathErr): // names the file
			return nil, fmt.Errorf("--gossip-key-file: %w", err)
		case err != nil:
			return nil, fmt.Errorf("--gossip-key-file %s: %w", g.file, err)
		}
		return key, nil
	}
	return nil, nil
}

// note says on w when the keyring in dataDir (written at the first start
// with a key, changed by every rotation) decides instead of the flags: it
// wins over the key they give, and keeps a member encrypted without them.
func (g *gossipKeyFlags) note(w io.Writer, dataDir string, key []byte) {
	if dataDir == "" {
		return
	}
	path := filepath.Join(dataDir, gossip.KeyringFileName)
	keys, err := gossip.LoadKeyring(path)
	if err != nil {
		return // none (the flags decide), or unreadable (the start says so)
	}
	switch {
	case key == nil:
		fmt.Fprintf(w, "note: gossip is encrypted with the keyring %s (delete it to gossip in the clear)\n", path)
	case !slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) }):
		// The keyring was written from the key given at the first start
		// and changed by every rotation since: which of the two made it
		// differ (a rotation, or a key file changed after the first
		// start) is not known here.
		fmt.Fprintf(w, "note: the key of --gossip-key or --gossip-key-file is not in the keyring %s: the key file and the saved keyring differ, and the keyring wins (to use the key: delete that file; to keep the keyring: put its primary key, the first in the file, in the key file)\n", path)
	}
}

// listener is the --gossip listener (addr) for daemonTLS.load to check as
// the others, unless gossip is encrypted (a key, or a keyring saved in
// dataDir): an encrypted pool lets in no member without the key, a
// plaintext one beyond loopback anyone who reaches it (a "server" the
// leader would add as a Raft voter).
func (g *gossipKeyFlags) listener(addr, dataDir string, key []byte) [2]string {
	if len(key) > 0 {
		return [2]string{}
	}
	if dataDir != "" {
		if _, err := os.Stat(filepath.Join(dataDir, gossip.KeyringFileName)); err == nil {
			return [2]string{}
		}
	}
	return [2]string{"--gossip", addr}
}

// given reports whether either flag was given.
func (g *gossipKeyFlags) given() bool {
	return g.fs.Changed("gossip-key") || g.fs.Changed("gossip-key-file")
}

// newGossipCmd is `operator gossip keyring`: the gossip pool's encryption
// keys, rotated across every member (docs/REAL-CLUSTERS.md).
func newGossipCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gossip",
		Short: "The gossip pool's encryption",
	}
	keyring := &cobra.Command{
		Use:   "keyring",
		Short: "List, install, use and remove gossip encryption keys on every member",
		Long: `Rotate the gossip key while the pool stays whole:

  flotilla operator gossip keyring generate        # prints NEW
  flotilla operator gossip keyring install NEW     # every member accepts NEW too
  flotilla operator gossip keyring use NEW         # every member encrypts with NEW
  flotilla operator gossip keyring remove OLD      # nobody accepts OLD any more

Any server asks every alive member (servers and agents) and answers how
many applied the change; each member saves its keyring in its data dir.
A member that was down misses the change: see docs/REAL-CLUSTERS.md.`,
	}
	generate := &cobra.Command{
		Use:   "generate",
		Short: "Print a new random key (32 bytes, base64), for --gossip-key-file or install",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := gossip.GenerateKey()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), key)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys: for each, how many members hold it and how many encrypt with it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return askEveryMember(cmd, g, "gossip keyring list", (*api.Client).GossipKeys, printGossipKeys)
		},
	}
	change := func(op, short, done string) *cobra.Command {
		return &cobra.Command{
			Use:   op + " KEY",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if _, err := api.ParseGossipKey(args[0]); err != nil {
					return fmt.Errorf("gossip keyring %s: KEY: %w", op, err)
				}
				change := func(c *api.Client, ctx context.Context) (*api.GossipKeyringResponse, error) {
					return c.GossipKeyring(ctx, op, strings.TrimSpace(args[0]))
				}
				return askEveryMember(cmd, g, "gossip keyring "+op, change, func(w io.Writer, resp *api.GossipKeyringResponse) error {
					_, err := fmt.Fprintf(w, "%s: %d of %d members\n", done, resp.Succeeded, resp.Members)
					return err
				})
			},
		}
	}
	keyring.AddCommand(generate, list,
		change(api.GossipKeyInstall, "Install a key on every member: they accept messages encrypted with it too", "installed the key"),
		change(api.GossipKeyUse, "Make an installed key the one every member encrypts with", "now encrypting with the key"),
		change(api.GossipKeyRemove, "Remove a key from every member (not the one in use)", "removed the key"),
	)
	cmd.AddCommand(keyring)
	return cmd
}

// askEveryMember is fetchAndPrint for a keyring request, which a server
// answers once every member has: it gives the server time to wait for
// every member's answer (scheduler.GossipKeyringTimeout, 5s) before the
// client tries another, and after printing fails when a member did not
// apply the request (or did not answer).
func askEveryMember(cmd *cobra.Command, g *globals, what string, ask func(*api.Client, context.Context) (*api.GossipKeyringResponse, error), table func(io.Writer, *api.GossipKeyringResponse) error) error {
	var resp *api.GossipKeyringResponse
	fetch := func(c *api.Client, ctx context.Context) (*api.GossipKeyringResponse, error) {
		c.AttemptTimeout = 15 * time.Second
		var err error
		resp, err = ask(c, ctx)
		return resp, err
	}
	if err := fetchAndPrint(cmd, g, what, fetch, table); err != nil {
		return err
	}
	return keyringFailures(resp)
}

// printGossipKeys prints the keys, the one most members encrypt with first.
func printGossipKeys(w io.Writer, resp *api.GossipKeyringResponse) error {
	keys := make([]string, 0, len(resp.Keys))
	for k := range resp.Keys {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if resp.PrimaryKeys[a] != resp.PrimaryKeys[b] {
			return resp.PrimaryKeys[a] > resp.PrimaryKeys[b]
		}
		if resp.Keys[a] != resp.Keys[b] {
			return resp.Keys[a] > resp.Keys[b]
		}
		return a < b
	})
	t := newTable(w, "KEY", "HELD BY", "PRIMARY ON")
	for _, k := range keys {
		t.row(k, fmt.Sprintf("%d/%d", resp.Keys[k], resp.Members), fmt.Sprintf("%d/%d", resp.PrimaryKeys[k], resp.Members))
	}
	return t.flush()
}

// keyringFailures is an error naming the members that did not apply an
// operation (or did not answer), nil when all did.
func keyringFailures(resp *api.GossipKeyringResponse) error {
	if len(resp.Failed) == 0 {
		return nil
	}
	names := make([]string, 0, len(resp.Failed))
	for n := range resp.Failed {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+": "+resp.Failed[n])
	}
	return fmt.Errorf("%d of %d members failed: %s", len(resp.Failed), resp.Members, strings.Join(parts, "; "))
}
