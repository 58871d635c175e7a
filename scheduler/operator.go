package scheduler

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"flotilla/api"
	"flotilla/network/gossip"
	"flotilla/scheduler/state"
)

// A snapshot archive (flotilla operator snapshot save|restore) is a
// gzipped tar of two files, as Nomad's and Consul's are: meta.json, which
// says what the state is (index, size, SHA-256), then state.jsonl, the
// FSM's own snapshot format (what Raft's snapshots hold).
const (
	snapshotMetaFile  = "meta.json"
	snapshotStateFile = "state.jsonl"
)

// SnapshotMeta is meta.json.
type SnapshotMeta struct {
	Flotilla string    `json:"flotilla"` // "snapshot"
	Version  int       `json:"version"`  // 1
	Server   string    `json:"server"`
	Time     time.Time `json:"time"`
	Index    uint64    `json:"index"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
}

// The server answers api.Operator.
var _ api.Operator = (*Server)(nil)

// SnapshotSave writes the state to a temporary file and returns an archive
// of it; closing it removes the file.
func (s *Server) SnapshotSave(ctx context.Context) (io.ReadCloser, uint64, error) {
	snap := s.store.Snapshot()
	index := snap.LatestIndex()
	f, err := os.CreateTemp(s.cfg.DataDir, "snapshot-*.tmp")
	if err != nil {
		return nil, 0, fmt.Errorf("save snapshot: %w", err)
	}
	remove := func() { f.Close(); os.Remove(f.Name()) }
	sum := sha256.New()
	counted := &countingWriter{w: io.MultiWriter(f, sum)}
	if err := snap.Write(counted); err != nil {
		remove()
		return nil, 0, fmt.Errorf("save snapshot: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		remove()
		return nil, 0, fmt.Errorf("save snapshot: %w", err)
	}
	meta := SnapshotMeta{Flotilla: "snapshot", Version: 1, Server: s.cfg.Name, Time: s.cfg.Clock.Now().UTC(), Index: index,
		Size: counted.n, SHA256: hex.EncodeToString(sum.Sum(nil))}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeSnapshotArchive(pw, meta, f)) }()
	return &archiveReader{PipeReader: pr, cleanup: remove}, index, nil
}

func writeSnapshotArchive(w io.Writer, meta SnapshotMeta, state io.Reader) error {
	metaJSON, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	now := meta.Time
	if err := tw.WriteHeader(&tar.Header{Name: snapshotMetaFile, Mode: 0o600, Size: int64(len(metaJSON)), ModTime: now}); err != nil {
		return err
	}
	if _, err := tw.Write(metaJSON); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: snapshotStateFile, Mode: 0o600, Size: meta.Size, ModTime: now}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, state); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

type archiveReader struct {
	*io.PipeReader
	cleanup func()
}

func (a *archiveReader) Close() error {
	err := a.PipeReader.Close()
	a.cleanup()
	return err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// SnapshotRestore replaces the cluster's state with an archive's. The
// archive is checked whole (checksum, and a trial restore into a scratch
// state) before Raft sees it: a restore that fails inside Raft stops the
// server. What it would bring is checked too (restorable): another
// cluster's state, or secrets under keys this keyring lacks, need force.
// Only the leader restores; Raft then sends the state to the followers.
func (s *Server) SnapshotRestore(ctx context.Context, r io.Reader, force bool) (uint64, error) {
	if !s.IsLeader() {
		return 0, fmt.Errorf("restore snapshot: server %s does not lead: %w", s.cfg.Name, api.ErrNoLeader)
	}
	f, err := os.CreateTemp(s.cfg.DataDir, "restore-*.tmp")
	if err != nil {
		return 0, fmt.Errorf("restore snapshot: %w", err)
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	meta, err := readSnapshotArchive(r, f)
	if err != nil {
		return 0, &api.FieldError{Field: "snapshot", Message: err.Error()}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("restore snapshot: %w", err)
	}
	scratch := state.NewStore()
	if err := state.NewFSM(scratch, s.cfg.Logger).Restore(io.NopCloser(f)); err != nil {
		return 0, &api.FieldError{Field: "snapshot", Message: err.Error()}
	}
	if err := s.restorable(scratch.Snapshot(), force); err != nil {
		return 0, &api.FieldError{Field: "snapshot", Message: err.Error()}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("restore snapshot: %w", err)
	}
	rmeta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: meta.Index, Size: meta.Size}
	if err := s.raft.Restore(rmeta, f, time.Minute); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return 0, fmt.Errorf("restore snapshot: %v: %w", err, api.ErrNoLeader)
		}
		return 0, fmt.Errorf("restore snapshot: %w", err)
	}
	select {
	case s.restored <- struct{}{}:
	default: // one restart of the leader's duties is already due
	}
	s.cfg.Logger.Warn("state restored from a snapshot", "snapshot_index", meta.Index, "from", meta.Server, "taken", meta.Time)
	return s.raft.LastIndex(), nil
}

// restorable refuses a state that would harm this cluster once restored:
// one that holds no management token while ACLs are enforced (anyone
// could then bootstrap them again), whatever force says; and unless
// forced, another cluster's state (its services, VIPs, tokens and
// secrets would replace this one's, as when rebuilding a lost cluster) or
// secrets sealed under keys this server's keyring neither holds nor can
// unwrap from the keys the state carries.
func (s *Server) restorable(snap *state.Snapshot, force bool) error {
	if s.cfg.ACL && !snap.HasManagementToken(s.cfg.Clock.Now()) {
		return errors.New("it holds no management token: restored into a cluster that enforces ACLs, it would let anyone run acl bootstrap again")
	}
	if force {
		return nil
	}
	var why []string
	if theirs, ours := snap.ClusterID(), s.store.Snapshot().ClusterID(); theirs != 0 && ours != 0 && theirs != ours {
		why = append(why, fmt.Sprintf("it was taken from another cluster (ID %x; this one is %x), whose services, tokens and secrets would replace this one's", theirs, ours))
	}
	if missing := s.secrets.missingKeys(snap); len(missing) > 0 {
		why = append(why, fmt.Sprintf("its secrets are sealed under keys this cluster's keyring does not hold (%s; give every server that cluster's keyring file first)", strings.Join(missing, ", ")))
	}
	if len(why) == 0 {
		return nil
	}
	return errors.New(strings.Join(why, "; ") + "; --force restores it anyway, as when rebuilding a lost cluster")
}

// readSnapshotArchive checks an archive and copies its state to w.
func readSnapshotArchive(r io.Reader, w io.Writer) (SnapshotMeta, error) {
	var meta SnapshotMeta
	zr, err := gzip.NewReader(r)
	if err != nil {
		return meta, fmt.Errorf("not a snapshot archive (gzip): %w", err)
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != snapshotMetaFile {
		return meta, fmt.Errorf("not a snapshot archive: want %s first", snapshotMetaFile)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(tr, 1<<20)); err != nil {
		return meta, fmt.Errorf("read %s: %w", snapshotMetaFile, err)
	}
	if err := json.Unmarshal(buf.Bytes(), &meta); err != nil || meta.Flotilla != "snapshot" || meta.Version != 1 {
		return meta, fmt.Errorf("%s: not a version 1 flotilla snapshot", snapshotMetaFile)
	}
	if hdr, err = tr.Next(); err != nil || hdr.Name != snapshotStateFile {
		return meta, fmt.Errorf("snapshot archive has no %s", snapshotStateFile)
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, sum), tr)
	if err != nil {
		return meta, fmt.Errorf("read %s: %w", snapshotStateFile, err)
	}
	if n != meta.Size || hex.EncodeToString(sum.Sum(nil)) != meta.SHA256 {
		return meta, fmt.Errorf("%s is damaged: %d bytes with SHA-256 %x, meta.json says %d bytes with %s", snapshotStateFile, n, sum.Sum(nil), meta.Size, meta.SHA256)
	}
	return meta, nil
}

// RemovePeer removes a dead server from the Raft voters. A server that
// gossip shows alive is refused: it would be added back at once (the
// leader adds every live server); stop it first.
func (s *Server) RemovePeer(ctx context.Context, id string) (uint64, error) {
	if !s.IsLeader() {
		return 0, fmt.Errorf("remove peer %s: server %s does not lead: %w", id, s.cfg.Name, api.ErrNoLeader)
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return 0, fmt.Errorf("remove peer %s: %w", id, err)
	}
	found := false
	for _, srv := range f.Configuration().Servers {
		found = found || srv.ID == raft.ServerID(id)
	}
	if !found {
		return 0, fmt.Errorf("remove peer %s: no such Raft server: %w", id, api.ErrNotFound)
	}
	if id == s.cfg.Name {
		return 0, fmt.Errorf("remove peer %s: it is the leader answering; stop it and remove it through another server: %w", id, api.ErrConflict)
	}
	for _, m := range s.pool.Members() {
		if m.Name == id && m.Status == gossip.StatusAlive {
			return 0, fmt.Errorf("remove peer %s: it is alive (gossip); stop it first, or it is added back: %w", id, api.ErrConflict)
		}
	}
	rf := s.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second)
	if err := rf.Error(); err != nil {
		return 0, fmt.Errorf("remove peer %s: %v: %w", id, err, api.ErrNoLeader)
	}
	s.pool.Forget(id)
	s.cfg.Logger.Info("removed raft peer", "server", id)
	return rf.Index(), nil
}
