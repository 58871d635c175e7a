package containerd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"flotilla/runtime"
)

// Image labels.
const (
	// labelBinary is the sha256 of the flotilla binary a demo image holds:
	// the image is rebuilt when the binary changes.
	labelBinary = "flotilla.binary.sha256"
	// labelArchive is the sha256 of the OCI archive an image came from.
	labelArchive = "flotilla.archive.sha256"
)

// demoEntrypoint is the demo image's entrypoint.
var demoEntrypoint = []string{"/flotilla", "workload"}

// containerImage is an image ready to run: unpacked, with its config.
type containerImage struct {
	image  client.Image
	config ocispec.ImageConfig
	demo   bool // the demo image: the entrypoint is the workload
	// parent is the unpacked snapshot (the layers' chain ID) that
	// containers' root file systems are made on.
	parent string
}

// resolveImage gets ref ready for a container: the demo image is built
// (or rebuilt when the binary changed), an archive imported, anything else
// pulled unless it is there already; then unpacked. An image that cannot
// be found or read is ErrInvalidSpec.
//
// What it finds is kept (r.images) for the next containers of the same
// image, which then cost no round trip and wait for no other Create (the
// image lock); the key holds the binary's or archive's digest, so that a
// new binary still gets a new demo image. A kept image that has gone from
// containerd since is forgotten when a snapshot cannot be made on it
// (forgetImage), and resolved again.
func (r *Runtime) resolveImage(ctx context.Context, ref string) (containerImage, error) {
	key, err := r.imageKey(ref)
	if err != nil {
		return containerImage{}, err
	}
	r.mu.Lock()
	img, ok := r.images[key]
	r.mu.Unlock()
	if ok {
		return img, nil
	}
	img, err = r.loadImage(ctx, ref)
	if err != nil {
		return containerImage{}, err
	}
	r.mu.Lock()
	r.images[key] = img
	r.mu.Unlock()
	return img, nil
}

// imageKey names what ref resolves to now: the demo image of this binary,
// the image of this archive's content, or the registry reference.
func (r *Runtime) imageKey(ref string) (string, error) {
	switch {
	case strings.HasPrefix(ref, DemoImagePrefix):
		sum, err := fileSHA256(r.cfg.Binary)
		if err != nil {
			return "", fmt.Errorf("demo image %s: the flotilla binary: %w", ref, err)
		}
		return ref + "@" + sum, nil
	case strings.HasPrefix(ref, ArchivePrefix):
		sum, err := fileSHA256(strings.TrimPrefix(ref, ArchivePrefix))
		if err != nil {
			return "", fmt.Errorf("image %s: %w (%w)", ref, err, runtime.ErrInvalidSpec)
		}
		return ref + "@" + sum, nil
	}
	return ref, nil
}

// forgetImage drops what resolveImage kept of ref.
func (r *Runtime) forgetImage(ref string) {
	key, err := r.imageKey(ref)
	if err != nil {
		return
	}
	r.mu.Lock()
	delete(r.images, key)
	r.mu.Unlock()
}

// loadImage is resolveImage without what was kept.
func (r *Runtime) loadImage(ctx context.Context, ref string) (containerImage, error) {
	var (
		img  client.Image
		demo bool
		err  error
	)
	switch {
	case strings.HasPrefix(ref, DemoImagePrefix):
		demo = true
		img, err = r.demoImage(ctx, ref)
	case strings.HasPrefix(ref, ArchivePrefix):
		img, err = r.archiveImage(ctx, strings.TrimPrefix(ref, ArchivePrefix))
	default:
		img, err = r.pulledImage(ctx, ref)
	}
	if err != nil {
		return containerImage{}, err
	}
	spec, err := img.Spec(ctx)
	if err != nil {
		return containerImage{}, fmt.Errorf("image %s: read its config: %w (%w)", ref, err, runtime.ErrInvalidSpec)
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		return containerImage{}, fmt.Errorf("image %s: read its layers: %w (%w)", ref, err, runtime.ErrInvalidSpec)
	}
	return containerImage{image: img, config: spec.Config, demo: demo, parent: identity.ChainID(diffIDs).String()}, nil
}

// imageLocks serialise the building, importing and pulling of one image in
// one namespace across all Runtimes of this process (the contract tests
// run many at once), so that an image is built once.
var imageLocks keyedLock

func (r *Runtime) lockImage(ctx context.Context, name string) (func(), error) {
	unlock, err := imageLocks.lock(ctx, r.cfg.Address+"|"+r.namespace+"|"+name)
	if err != nil {
		return nil, fmt.Errorf("wait for another build of image %s: %w", name, err)
	}
	return unlock, nil
}

// unpacked makes sure img has a snapshot to start containers from.
func (r *Runtime) unpacked(ctx context.Context, img client.Image) error {
	ok, err := img.IsUnpacked(ctx, snapshotter)
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("image %s: %w", img.Name(), err)
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, snapshotter); err != nil {
		return fmt.Errorf("unpack image %s: %w", img.Name(), err)
	}
	return nil
}

// demoImage builds the demo image in the node's namespace unless it holds
// the current binary already.
func (r *Runtime) demoImage(ctx context.Context, ref string) (client.Image, error) {
	tag := strings.TrimPrefix(ref, DemoImagePrefix)
	if tag == "" || strings.ContainsAny(tag, "/:@ ") {
		return nil, fmt.Errorf("demo image %q: want %sTAG: %w", ref, DemoImagePrefix, runtime.ErrInvalidSpec)
	}
	sum, err := fileSHA256(r.cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("demo image %s: the flotilla binary: %w", ref, err)
	}
	unlock, err := r.lockImage(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if rec, err := r.client.ImageService().Get(ctx, ref); err == nil && rec.Labels[labelBinary] == sum {
		img := client.NewImage(r.client, rec)
		return img, r.unpacked(ctx, img)
	} else if err != nil && !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("demo image %s: %w", ref, err)
	}

	r.log.Info("building the demo image", "image", ref, "binary", r.cfg.Binary, "sha256", sum)
	// The lease keeps the blobs from the garbage collector until the image
	// record refers to them.
	ctx, done, err := r.client.WithLease(ctx)
	if err != nil {
		return nil, fmt.Errorf("demo image %s: lease: %w", ref, err)
	}
	defer done(context.WithoutCancel(ctx))
	manifest, err := r.writeDemoContent(ctx, sum)
	if err != nil {
		return nil, fmt.Errorf("build demo image %s: %w", ref, err)
	}
	rec := images.Image{Name: ref, Target: manifest, Labels: map[string]string{labelBinary: sum}}
	if _, err := r.client.ImageService().Create(ctx, rec); errdefs.IsAlreadyExists(err) {
		_, err = r.client.ImageService().Update(ctx, rec)
		if err != nil {
			return nil, fmt.Errorf("build demo image %s: update the image: %w", ref, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("build demo image %s: create the image: %w", ref, err)
	}
	img := client.NewImage(r.client, rec)
	if err := img.Unpack(ctx, snapshotter); err != nil {
		return nil, fmt.Errorf("build demo image %s: unpack: %w", ref, err)
	}
	return img, nil
}

// writeDemoContent writes the layer, config and manifest of the demo image
// for the binary with the given sha256 and returns the manifest.
func (r *Runtime) writeDemoContent(ctx context.Context, binarySum string) (ocispec.Descriptor, error) {
	cs := r.client.ContentStore()
	layer, plan, err := demoLayerDescriptor(r.cfg.Binary, binarySum)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	// The layer is streamed (the binary can be large); its digest is known
	// beforehand, so an existing blob is not written again.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(plan.writeTar(pw)) }()
	err = content.WriteBlob(ctx, cs, "flotilla-demo-layer-"+binarySum, pr, layer)
	pr.CloseWithError(io.ErrClosedPipe) // ends the writer goroutine if WriteBlob did not read it all
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write the layer: %w", err)
	}

	config, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: goruntime.GOARCH, OS: "linux"},
		Config: ocispec.ImageConfig{
			Entrypoint: demoEntrypoint,
			Env:        []string{"PATH=/bin"},
			WorkingDir: "/",
			Labels:     map[string]string{labelBinary: binarySum},
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	configDesc := blobDescriptor(ocispec.MediaTypeImageConfig, config)
	if err := content.WriteBlob(ctx, cs, "flotilla-demo-config-"+binarySum, bytes.NewReader(config), configDesc); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write the config: %w", err)
	}

	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []ocispec.Descriptor{layer},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	manifestDesc := blobDescriptor(ocispec.MediaTypeImageManifest, manifest)
	// The manifest refers to its config and layer for the garbage collector.
	gcRefs := map[string]string{
		"containerd.io/gc.ref.content.config": configDesc.Digest.String(),
		"containerd.io/gc.ref.content.l.0":    layer.Digest.String(),
	}
	if err := content.WriteBlob(ctx, cs, "flotilla-demo-manifest-"+binarySum, bytes.NewReader(manifest), manifestDesc, content.WithLabels(gcRefs)); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write the manifest: %w", err)
	}
	// WriteBlob sets no labels on a blob that was there already.
	if _, err := cs.Update(ctx, content.Info{Digest: manifestDesc.Digest, Labels: gcRefs},
		"labels.containerd.io/gc.ref.content.config", "labels.containerd.io/gc.ref.content.l.0"); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("label the manifest: %w", err)
	}
	return manifestDesc, nil
}

func blobDescriptor(mediaType string, b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

// demoLayers caches, per binary (path and sha256), the demo layer's plan
// and descriptor (digest and size of its tar), which take a pass over the
// binary to compute. The path is part of the key because the plan reads
// the binary from there: a copy with the same content elsewhere may go.
var demoLayers struct {
	mu sync.Mutex
	m  map[string]demoLayerEntry
}

type demoLayerEntry struct {
	desc ocispec.Descriptor
	plan demoLayer
}

func demoLayerDescriptor(binary, binarySum string) (ocispec.Descriptor, demoLayer, error) {
	demoLayers.mu.Lock()
	defer demoLayers.mu.Unlock()
	key := binary + "@" + binarySum
	if e, ok := demoLayers.m[key]; ok {
		return e.desc, e.plan, nil
	}
	plan, err := planDemoLayer(binary)
	if err != nil {
		return ocispec.Descriptor{}, demoLayer{}, err
	}
	h := digest.SHA256.Digester()
	n := &countingWriter{w: h.Hash()}
	if err := plan.writeTar(n); err != nil {
		return ocispec.Descriptor{}, demoLayer{}, fmt.Errorf("hash the demo layer: %w", err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: h.Digest(), Size: n.n}
	if demoLayers.m == nil {
		demoLayers.m = map[string]demoLayerEntry{}
	}
	demoLayers.m[key] = demoLayerEntry{desc: desc, plan: plan}
	return desc, plan, nil
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

// lockedLocalImage takes the image's lock and returns the image when the
// daemon has it already (unpacked, lock released); otherwise it returns
// with the lock held, for the caller to make the image and then unlock.
func (r *Runtime) lockedLocalImage(ctx context.Context, name string) (unlock func(), img client.Image, err error) {
	unlock, err = r.lockImage(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	rec, err := r.client.ImageService().Get(ctx, name)
	if err != nil {
		return unlock, nil, nil
	}
	defer unlock()
	img = client.NewImage(r.client, rec)
	return nil, img, r.unpacked(ctx, img)
}

// archiveImage imports an OCI archive file (once per content: the image is
// named after the archive's sha256).
func (r *Runtime) archiveImage(ctx context.Context, path string) (client.Image, error) {
	if path == "" || !filepath.IsAbs(path) {
		return nil, fmt.Errorf("image %s%s: want an absolute path: %w", ArchivePrefix, path, runtime.ErrInvalidSpec)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return nil, fmt.Errorf("image %s%s: %w (%w)", ArchivePrefix, path, err, runtime.ErrInvalidSpec)
	}
	name := "flotilla.local/oci-archive:" + sum[:20]
	unlock, img, err := r.lockedLocalImage(ctx, name)
	if err != nil || img != nil {
		return img, err
	}
	defer unlock()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w (%w)", path, err, runtime.ErrInvalidSpec)
	}
	defer f.Close()
	imported, err := r.client.Import(ctx, f, client.WithIndexName(name), client.WithImageLabels(map[string]string{labelArchive: sum}))
	if err != nil {
		return nil, fmt.Errorf("import %s: %w (%w)", path, err, runtime.ErrInvalidSpec)
	}
	for _, rec := range imported {
		if rec.Name != name {
			continue
		}
		img := client.NewImage(r.client, rec)
		if err := img.Unpack(ctx, snapshotter); err != nil {
			return nil, fmt.Errorf("import %s: unpack: %w (%w)", path, err, runtime.ErrInvalidSpec)
		}
		return img, nil
	}
	return nil, fmt.Errorf("import %s: no image in the archive: %w", path, runtime.ErrInvalidSpec)
}

// pulledImage is a registry image: the local one when it is there, else
// pulled and unpacked.
func (r *Runtime) pulledImage(ctx context.Context, ref string) (client.Image, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w (%w)", ref, err, runtime.ErrInvalidSpec)
	}
	name := named.String()
	unlock, img, err := r.lockedLocalImage(ctx, name)
	if err != nil || img != nil {
		return img, err
	}
	defer unlock()
	r.log.Info("pulling image", "image", name)
	img, err = r.client.Pull(ctx, name, client.WithPullUnpack, client.WithPullSnapshotter(snapshotter))
	if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) {
		return nil, fmt.Errorf("pull image %s: %w (%w)", name, err, runtime.ErrInvalidSpec)
	}
	if err != nil {
		return nil, fmt.Errorf("pull image %s: %w", name, err)
	}
	return img, nil
}

// fileDigests caches files' sha256 by identity and modification, so that
// a large binary or archive is hashed once, and again when it changes.
var fileDigests struct {
	mu sync.Mutex
	m  map[fileKey]string
}

type fileKey struct {
	path       string
	size       int64
	mtime      int64
	dev, inode uint64
}

func fileSHA256(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	key := fileKey{path: path, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		key.dev, key.inode = uint64(st.Dev), st.Ino
	}
	fileDigests.mu.Lock()
	sum, ok := fileDigests.m[key]
	fileDigests.mu.Unlock()
	if ok {
		return sum, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	fileDigests.mu.Lock()
	if fileDigests.m == nil {
		fileDigests.m = map[fileKey]string{}
	}
	fileDigests.m[key] = sum
	fileDigests.mu.Unlock()
	return sum, nil
}

// keyedLock is a mutex per key whose Lock gives up when ctx ends.
type keyedLock struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func (k *keyedLock) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]chan struct{}{}
	}
	ch, ok := k.m[key]
	if !ok {
		ch = make(chan struct{}, 1)
		k.m[key] = ch
	}
	k.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
