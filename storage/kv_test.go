package storage

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestKVKeepsValuesAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent", "state.db")
	kv, err := OpenKV(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"b", "a", "c"} {
		if err := kv.Put("allocs", k, []byte("value-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete("allocs", "c"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete("nothing", "x"); err != nil {
		t.Fatalf("deleting from a missing bucket: %v", err)
	}
	kv.Close()

	kv, err = OpenKV(path)
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	var keys []string
	if err := kv.ForEach("allocs", func(k string, v []byte) error {
		keys = append(keys, k+"="+string(v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "a=value-a,b=value-b" {
		t.Fatalf("after reopen: %v", keys)
	}
	if v, ok, err := kv.Get("allocs", "b"); err != nil || !ok || string(v) != "value-b" {
		t.Fatalf("get b = %q %v %v", v, ok, err)
	}
	if _, ok, err := kv.Get("allocs", "zzz"); err != nil || ok {
		t.Fatalf("get of a missing key: ok=%v err=%v", ok, err)
	}
}

func TestKVRefusesASecondOpener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	kv, err := OpenKV(path)
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	if _, err := OpenKV(path); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("second open: %v", err)
	}
}
