//go:build linux

package netlab

import (
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/vishvananda/netns"

	"flotilla/internal/testutil"
)

func TestCreateNetnsIsIdempotentAndDeleteToleratesAbsence(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and netlink")
	name := testNetns(t, "ns")
	if err := CreateNetns(name); err != nil {
		t.Fatalf("second CreateNetns(%s): %v", name, err)
	}
	names, err := ListNetns("fltest-ns-")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, name) {
		t.Fatalf("ListNetns = %v, want it to contain %s", names, name)
	}
	if ok, err := NetnsExists(name); err != nil || !ok {
		t.Fatalf("NetnsExists(%s) = %v, %v; want true", name, ok, err)
	}

	if err := DeleteNetns(name); err != nil {
		t.Fatalf("DeleteNetns: %v", err)
	}
	if err := DeleteNetns(name); err != nil {
		t.Fatalf("DeleteNetns of an absent netns: %v", err)
	}
	if _, err := os.Stat(NetnsPath(name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat %s after delete: %v, want not exist", NetnsPath(name), err)
	}
	if err := Do(name, func() error { return nil }); err == nil {
		t.Fatal("Do in a deleted netns succeeded")
	}
}

func TestCreateNetnsReplacesStaleFile(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and netlink")
	name := testNetns(t, "stale")
	if err := DeleteNetns(name); err != nil {
		t.Fatal(err)
	}
	// What a crash between creating the mount point and mounting leaves.
	if err := os.WriteFile(NetnsPath(name), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := CreateNetns(name); err != nil {
		t.Fatalf("CreateNetns over a stale file: %v", err)
	}
	if ok, err := NetnsExists(name); err != nil || !ok {
		t.Fatalf("NetnsExists(%s) = %v, %v; want true", name, ok, err)
	}
}

func TestDoRunsInsideTheNamespaceAndRestoresTheThread(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and netlink")
	name := testNetns(t, "do")
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	target, err := netns.GetFromPath(NetnsPath(name))
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()

	for i := 0; i < 3; i++ {
		inNetns(t, name, func() error {
			cur, err := netns.Get()
			if err != nil {
				return err
			}
			defer cur.Close()
			if !cur.Equal(target) {
				return errors.New("fn did not run in the target netns")
			}
			return nil
		})
	}
	want := errors.New("from fn")
	if err := Do(name, func() error { return want }); !errors.Is(err, want) {
		t.Fatalf("Do returned %v, want fn's error", err)
	}
	cur, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if !cur.Equal(host) {
		t.Fatal("the test goroutine's netns changed")
	}
}
