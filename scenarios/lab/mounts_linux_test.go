package lab

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/tmp/plain`:           "/tmp/plain",
		`/tmp/a\040b`:          "/tmp/a b",
		`/tmp/tab\011and\134x`: "/tmp/tab\tand\\x",
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// A tmpfs left below a lab's data (a replica's secrets) is taken off, so
// that the data can go; nothing outside the directory is touched.
func TestUnmountUnderTakesOffWhatALabLeft(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root: this test mounts a tmpfs")
		}
		t.Skip("mounts a tmpfs: needs root")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	inner := filepath.Join(data, "n1", "containers", "c1", "mounts", "1 x") // a space, escaped in mountinfo
	beside := filepath.Join(dir, "beside")
	for _, d := range []string{inner, beside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", d, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		unix.Unmount(inner, unix.MNT_DETACH)
		unix.Unmount(beside, unix.MNT_DETACH)
	})
	if err := os.WriteFile(filepath.Join(inner, "password"), []byte("s3cret"), 0o400); err != nil {
		t.Fatal(err)
	}
	if got, err := mountsUnder(data); err != nil || len(got) != 1 || got[0] != inner {
		t.Fatalf("mounts under data: %q, %v; want %q", got, err, inner)
	}
	if err := unmountUnder(data); err != nil {
		t.Fatal(err)
	}
	if got, _ := mountsUnder(data); len(got) != 0 {
		t.Fatalf("still mounted: %q", got)
	}
	if err := os.RemoveAll(data); err != nil {
		t.Fatalf("the data could not go: %v", err)
	}
	if got, _ := mountsUnder(dir); len(got) != 1 || got[0] != beside {
		t.Fatalf("mounts beside data: %q, want %q left alone", got, beside)
	}
}
