// Package atomicfile writes a file whole or not at all: through a
// temporary file in the same directory, synced, then renamed over the
// file, so that a crash or a reader never sees it half-written. It is for
// the small files that every layer keeps (keyrings, backups, a lab's
// state) and imports nothing of ours. Private checks that such a file
// holding secrets is its owner's alone.
package atomicfile
