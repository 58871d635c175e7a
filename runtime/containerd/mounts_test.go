package containerd

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"flotilla/runtime"
)

func TestValidateMounts(t *testing.T) {
	for _, tc := range []struct {
		mounts []runtime.FileMount
		ok     bool
	}{
		{[]runtime.FileMount{{Path: "/etc/app", Files: map[string][]byte{"a.yaml": nil}}}, true},
		{[]runtime.FileMount{{Path: "etc/app"}}, false},
		{[]runtime.FileMount{{Path: "/etc/app/"}}, false},
		{[]runtime.FileMount{{Path: "/"}}, false},
		{[]runtime.FileMount{{Path: "/etc/app", Files: map[string][]byte{"../x": nil}}}, false},
		{[]runtime.FileMount{{Path: "/etc/app", Files: map[string][]byte{"..": nil}}}, false},
	} {
		if err := validateMounts(tc.mounts); (err == nil) != tc.ok {
			t.Errorf("validateMounts(%+v) = %v, want ok %v", tc.mounts, err, tc.ok)
		}
	}
}

// hostMount is the file system type mounted at dir on the host, "" when
// nothing is.
func hostMount(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SOURCE OPTS
		if len(fields) < 10 || fields[4] != dir {
			continue
		}
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				return fields[i+1]
			}
		}
	}
	return ""
}

func TestSecretsMountOnATmpfsAndConfigsAreRewrittenInPlace(t *testing.T) {
	address := requireContainerd(t)
	cfg := Config{Address: address, Node: testNode(t, address), Network: testNetwork(t), StateDir: t.TempDir(), Binary: testBinary(t)}
	rt := newRuntime(t, cfg)
	spec := demoSpec(t, 8080)
	spec.Env = map[string]string{"DB_PASSWORD": "env-s3cret"}
	spec.Mounts = []runtime.FileMount{
		{Path: "/etc/app", Files: map[string][]byte{"level": []byte("1")}},
		{Path: "/run/secrets/db", Files: map[string][]byte{"password": []byte("file-s3cret")}, Secret: true},
	}
	ctx := testCtx(t, 90*time.Second)
	if err := rt.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	removeAtEnd(t, rt, spec.ID)
	if err := rt.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	waitServing(t, rt, spec.ID, 8080)
	exec := func(args ...string) string {
		t.Helper()
		var out, errOut strings.Builder
		code, err := rt.Exec(ctx, spec.ID, args, &out, &errOut)
		if err != nil || code != 0 {
			t.Fatalf("exec %v: %d %v %s", args, code, err, errOut.String())
		}
		return out.String()
	}
	if got := exec("cat", "/run/secrets/db/password"); got != "file-s3cret" {
		t.Fatalf("secret file: %q", got)
	}
	if got := exec("printenv", "DB_PASSWORD"); got != "env-s3cret\n" {
		t.Fatalf("secret env: %q", got)
	}
	if got := exec("cat", "/etc/app/level"); got != "1" {
		t.Fatalf("config file: %q", got)
	}
	if mounts := exec("cat", "/proc/self/mounts"); !strings.Contains(mounts, " /run/secrets/db tmpfs ro,") {
		t.Fatalf("/run/secrets/db is not a read-only tmpfs in the container:\n%s", mounts)
	}
	secretDir := mountDir(rt.containerDir(spec.ID), 1)
	if fs := hostMount(t, secretDir); fs != "tmpfs" {
		t.Fatalf("the secret's directory %s on the node is %q, want a tmpfs", secretDir, fs)
	}
	if info, err := os.Stat(filepath.Join(secretDir, "password")); err != nil || info.Mode().Perm() != 0o400 {
		t.Fatalf("the secret's file on the node: %v %v, want mode 0400", info, err)
	}

	// A config reloaded by signal: rewritten in the running container,
	// then signalled (the demo workload logs it and keeps running).
	spec.Mounts[0].Files = map[string][]byte{"level": []byte("2")}
	if err := rt.UpdateMounts(ctx, spec.ID, spec.Mounts); err != nil {
		t.Fatal(err)
	}
	if got := exec("cat", "/etc/app/level"); got != "2" {
		t.Fatalf("config file after the update: %q", got)
	}
	if err := rt.Signal(ctx, spec.ID, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var logs strings.Builder
		rt.Logs(ctx, spec.ID, false, &logs)
		if strings.Contains(logs.String(), "received SIGHUP") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SIGHUP in the logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling the log, not synchronising
	}
	if st, err := rt.Status(ctx, spec.ID); err != nil || st.State != runtime.StateRunning {
		t.Fatalf("after SIGHUP: %+v %v, want it running", st, err)
	}

	// Removed: the tmpfs is unmounted and the directory gone.
	if err := rt.Stop(ctx, spec.ID, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := rt.Remove(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if fs := hostMount(t, secretDir); fs != "" {
		t.Fatalf("the secret's tmpfs is still mounted after remove (%s)", fs)
	}
	if _, err := os.Stat(rt.containerDir(spec.ID)); !os.IsNotExist(err) {
		t.Fatalf("the container's directory after remove: %v", err)
	}
}
