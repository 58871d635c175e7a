package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"flotilla/api"
	"flotilla/internal/atomicfile"
)

// newOperatorCmd is what an operator of a real cluster needs: backups of
// the Raft state and their restore, and removing a server that is gone
// for good (docs/REAL-CLUSTERS.md).
func newOperatorCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Back up and restore the cluster's state, remove a dead server, rotate the keyring of secrets",
	}
	snapshot := &cobra.Command{
		Use:   "snapshot",
		Short: "Save the cluster's state to a file, or restore it from one",
	}
	var stale bool
	save := &cobra.Command{
		Use:   "save FILE",
		Short: "Save a snapshot of the cluster's state (a gzipped tar: meta.json and state.jsonl)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			c.AttemptTimeout = snapshotAttemptTimeout
			archive, index, err := c.SnapshotSave(cmd.Context(), api.QueryOptions{Stale: stale})
			if err != nil {
				return fmt.Errorf("save snapshot: %w", err)
			}
			if err := atomicfile.Write(args[0], archive, 0o600); err != nil {
				return fmt.Errorf("save snapshot: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "saved the state at index %d to %s (%d bytes)\n", index, args[0], len(archive))
			return nil
		},
	}
	save.Flags().BoolVar(&stale, "stale", false, "let any server answer from its own state, even without a leader (it may be behind)")
	var force bool
	restore := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the cluster's whole state with a snapshot's (the leader restores; Raft sends it to the others)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			archive, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("restore snapshot: %w", err)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			c.AttemptTimeout = snapshotAttemptTimeout
			resp, err := c.SnapshotRestore(cmd.Context(), archive, force)
			if err != nil {
				return fmt.Errorf("restore snapshot %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s; the cluster's log is at index %d\n", args[0], resp.Index)
			return nil
		},
	}
	restore.Flags().BoolVar(&force, "force", false, "restore another cluster's snapshot, or one whose secrets are sealed under keys this cluster's keyring lacks (rebuilding a lost cluster)")
	inspect := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show what a snapshot file holds (its meta.json), without a cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			meta, err := snapshotMeta(args[0])
			if err != nil {
				return err
			}
			return printObject(cmd.OutOrStdout(), "json", meta)
		},
	}
	snapshot.AddCommand(save, restore, inspect)

	raftCmd := &cobra.Command{
		Use:   "raft",
		Short: "Raft membership",
	}
	removePeer := &cobra.Command{
		Use:   "remove-peer NAME",
		Short: "Remove a server that is gone for good from the Raft voters (stop it first: a live server is refused)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if _, err := c.RemovePeer(cmd.Context(), args[0]); err != nil {
				return err // the servers name the peer and what stands in the way
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s from the Raft voters\n", args[0])
			return nil
		},
	}
	raftCmd.AddCommand(removePeer)
	cmd.AddCommand(snapshot, raftCmd)
	cmd.AddCommand(newGossipCmd(g))
	cmd.AddCommand(newKeyringCmd(g)) // files.go
	cmd.AddCommand(newCACmd(g))      // ca.go
	return cmd
}

// snapshotAttemptTimeout bounds one attempt to move a snapshot: a large
// state takes longer than the 5s other commands give a server.
const snapshotAttemptTimeout = 10 * time.Minute

// snapshotMeta reads the meta.json of a snapshot file.
func snapshotMeta(path string) (map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s is not a snapshot (gzip): %w", path, err)
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != "meta.json" {
		return nil, fmt.Errorf("%s is not a snapshot: no meta.json first", path)
	}
	var meta map[string]any
	if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&meta); err != nil {
		return nil, fmt.Errorf("%s: meta.json: %w", path, err)
	}
	return meta, nil
}
