package containerd

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"

	"flotilla/runtime"
)

// The demo image is built on first use, kept while the binary stays the
// same (also by a new Runtime), and rebuilt when the binary changes.
func TestDemoImageIsRebuiltOnlyWhenTheBinaryChanges(t *testing.T) {
	address := requireContainerd(t)
	binary := filepath.Join(t.TempDir(), "flotilla")
	copyFile(t, testBinary(t), binary)
	cfg := Config{Address: address, Node: testNode(t, address), Network: testNetwork(t), StateDir: t.TempDir(), Binary: binary}
	direct := directClient(t, address, NamespacePrefix+cfg.Node)
	ctx := testCtx(t, 60*time.Second)
	image := func() images.Image {
		t.Helper()
		img, err := direct.ImageService().Get(ctx, DemoImagePrefix+"test")
		if err != nil {
			t.Fatalf("the demo image: %v", err)
		}
		return img
	}
	create := func(rt *Runtime) {
		t.Helper()
		spec := demoSpec(t, 8080)
		if err := rt.Create(ctx, spec); err != nil {
			t.Fatal(err)
		}
		removeAtEnd(t, rt, spec.ID)
	}

	rt := newRuntime(t, cfg)
	create(rt)
	built := image()
	if built.Labels[labelBinary] == "" {
		t.Fatalf("the demo image has no %s label: %+v", labelBinary, built.Labels)
	}
	create(newRuntime(t, cfg))
	if again := image(); again.Target.Digest != built.Target.Digest || !again.UpdatedAt.Equal(built.UpdatedAt) {
		t.Errorf("the same binary rebuilt the image: %v at %v, was %v at %v", again.Target.Digest, again.UpdatedAt, built.Target.Digest, built.UpdatedAt)
	}

	// Bytes after the end of an ELF file change its digest, not what it does.
	f, err := os.OpenFile(binary, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("changed"))
	f.Close()
	spec := demoSpec(t, 8080)
	runServing(t, rt, spec)
	rebuilt := image()
	if rebuilt.Target.Digest == built.Target.Digest || rebuilt.Labels[labelBinary] == built.Labels[labelBinary] {
		t.Errorf("a changed binary did not rebuild the image: %v %v", rebuilt.Target.Digest, rebuilt.Labels)
	}
}

// An OCI archive (here: the demo image exported) is imported and run.
func TestOCIArchiveImage(t *testing.T) {
	address := requireContainerd(t)
	network := testNetwork(t)
	exporter := newRuntime(t, Config{Address: address, Node: testNode(t, address), Network: network, StateDir: t.TempDir(), Binary: testBinary(t)})
	ctx := testCtx(t, 60*time.Second)
	spec := demoSpec(t, 8080)
	if err := exporter.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	removeAtEnd(t, exporter, spec.ID)
	direct := directClient(t, address, exporter.Namespace())
	path := filepath.Join(t.TempDir(), "demo.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := direct.Export(ctx, f, archive.WithImage(direct.ImageService(), spec.Image), archive.WithPlatform(platforms.Default())); err != nil {
		t.Fatalf("export: %v", err)
	}
	f.Close()

	rt := newRuntime(t, Config{Address: address, Node: testNode(t, address), Network: network, StateDir: t.TempDir(), Binary: testBinary(t)})
	fromArchive := demoSpec(t, 8080, "--version", "archived")
	fromArchive.Image = ArchivePrefix + path
	base := runServing(t, rt, fromArchive)
	if code, body := httpGet(t, base+"/"); code != 200 || !strings.Contains(body, `"archived"`) {
		t.Errorf("GET / of the archived image: %d %s", code, body)
	}

	missing := demoSpec(t, 8080)
	missing.Image = ArchivePrefix + filepath.Join(t.TempDir(), "no-such.tar")
	if err := rt.Create(ctx, missing); !errors.Is(err, runtime.ErrInvalidSpec) {
		t.Errorf("create from a missing archive: %v, want ErrInvalidSpec", err)
	}
	notAnArchive := demoSpec(t, 8080)
	notAnArchive.Image = ArchivePrefix + testBinary(t)
	if err := rt.Create(ctx, notAnArchive); !errors.Is(err, runtime.ErrInvalidSpec) {
		t.Errorf("create from a file that is no archive: %v, want ErrInvalidSpec", err)
	}
}

// A dynamically linked binary gets its loader and libraries into the demo
// layer, so it runs in the image (here coreutils' sleep stands in for it).
func TestDemoImageOfADynamicBinaryRuns(t *testing.T) {
	address := requireContainerd(t)
	sleep := "/usr/bin/sleep"
	if interp, _, err := elfDeps(sleep); err != nil || interp == "" {
		t.Skipf("%s is not a dynamically linked ELF file (%v)", sleep, err)
	}
	rt := newRuntime(t, Config{Address: address, Node: testNode(t, address), StateDir: t.TempDir(), Binary: sleep})
	ctx := testCtx(t, 60*time.Second)
	spec := demoSpec(t, 0)
	spec.Command = []string{"/flotilla", "0.3"}
	spec.Image = DemoImagePrefix + "dynamic"
	if err := rt.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	removeAtEnd(t, rt, spec.ID)
	if err := rt.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	st, err := rt.Wait(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 0 {
		var logs strings.Builder
		rt.Logs(ctx, spec.ID, false, &logs)
		t.Errorf("sleep in the demo image: %+v\n%s", st, logs.String())
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// A Runtime keeps the images it resolved; one removed from containerd
// behind its back (and its layers with it) is resolved again, here built
// again, by the next Create.
func TestCreateResolvesAgainAnImageRemovedBehindItsBack(t *testing.T) {
	address := requireContainerd(t)
	// Each container in a network namespace of its own: port 8080 of the
	// host belongs to labs and other tests.
	rt := newRuntime(t, Config{Address: address, Node: testNode(t, address), Network: testNetwork(t), StateDir: t.TempDir(), Binary: testBinary(t)})
	direct := directClient(t, address, rt.Namespace())
	ctx := testCtx(t, 60*time.Second)
	first := demoSpec(t, 8080)
	if err := rt.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := rt.Remove(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	kept, err := rt.resolveImage(ctx, first.Image)
	if err != nil {
		t.Fatal(err)
	}
	if err := direct.ImageService().Delete(ctx, first.Image, images.SynchronousDelete()); err != nil {
		t.Fatalf("delete the image: %v", err)
	}
	if _, err := direct.SnapshotService(snapshotter).Stat(ctx, kept.parent); !errdefs.IsNotFound(err) {
		t.Fatalf("the image's layers are still there after its deletion (%v)", err)
	}

	second := demoSpec(t, 8080)
	runServing(t, rt, second)
	requireOwnNetns(t, rt, second.ID)
	if _, err := direct.ImageService().Get(ctx, first.Image); err != nil {
		t.Errorf("the image was not built again: %v", err)
	}
}
