package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"flotilla/runtime"
)

func TestMountsAreFilesOnDiskAndInExecAndReloadInPlace(t *testing.T) {
	dir := t.TempDir()
	rt := newRuntime(t, Config{FilesDir: dir})
	s := spec("m1")
	s.Mounts = []runtime.FileMount{
		{Path: "/etc/app", Files: map[string][]byte{"level": []byte("1")}},
		{Path: "/run/secrets/db", Files: map[string][]byte{"password": []byte("s3cret")}, Secret: true},
	}
	mustCreate(t, rt, s)
	if err := rt.Start(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code, err := rt.Exec(ctx, "m1", args, &out, &errOut); err != nil || code != 0 {
			t.Fatalf("exec %v: %d %v %s", args, code, err, errOut.String())
		}
		return out.String()
	}
	if got := run("cat", "/run/secrets/db/password"); got != "s3cret" {
		t.Fatalf("secret: %q", got)
	}
	if ls := run("ls", "-l", "/run/secrets/db", "/etc/app"); !strings.Contains(ls, "-r-------- ") || !strings.Contains(ls, "-r--r--r-- ") {
		t.Fatalf("ls -l, want the secret 0400 and the config 0444:\n%s", ls)
	}
	secretFile := filepath.Join(dir, "m1", "run", "secrets", "db", "password")
	if info, err := os.Stat(secretFile); err != nil || info.Mode().Perm() != 0o400 {
		t.Fatalf("the secret on disk: %v %v, want mode 0400", info, err)
	}

	s.Mounts[0].Files = map[string][]byte{"level": []byte("2")}
	if err := rt.UpdateMounts(ctx, "m1", s.Mounts); err != nil {
		t.Fatal(err)
	}
	if err := rt.Signal(ctx, "m1", syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if got := run("cat", "/etc/app/level"); got != "2" {
		t.Fatalf("config after the update: %q", got)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "m1", "etc", "app", "level")); err != nil || string(got) != "2" {
		t.Fatalf("config on disk after the update: %q %v", got, err)
	}
	if sigs := rt.Signals("m1"); len(sigs) != 1 || sigs[0] != "SIGHUP" {
		t.Fatalf("signals: %v", sigs)
	}

	if err := rt.Stop(ctx, "m1", 0); err != nil {
		t.Fatal(err)
	}
	if err := rt.Remove(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "m1")); !os.IsNotExist(err) {
		t.Fatalf("the container's files after remove: %v", err)
	}
}
