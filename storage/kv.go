package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// KV is a small bbolt file of buckets of keys, for an agent's local state:
// what it runs, so that a restarted agent knows. Writes are fsynced.
type KV struct {
	db *bolt.DB
}

// OpenKV opens (or creates) the file at path.
func OpenKV(path string) (*KV, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: another process holds it (is an agent with this data dir running?)", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &KV{db: db}, nil
}

// Put stores value under bucket/key.
func (kv *KV) Put(bucket, key string, value []byte) error {
	return kv.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	})
}

// Get reads bucket/key; ok is false when it is absent.
func (kv *KV) Get(bucket, key string) (value []byte, ok bool, err error) {
	err = kv.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(key)); v != nil {
			value, ok = append([]byte(nil), v...), true
		}
		return nil
	})
	return value, ok, err
}

// Delete removes bucket/key; deleting what is absent is not an error.
func (kv *KV) Delete(bucket, key string) error {
	return kv.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
}

// ForEach calls fn for every key of a bucket, in key order.
func (kv *KV) ForEach(bucket string, fn func(key string, value []byte) error) error {
	return kv.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { return fn(string(k), append([]byte(nil), v...)) })
	})
}

// Close releases the file.
func (kv *KV) Close() error { return kv.db.Close() }
