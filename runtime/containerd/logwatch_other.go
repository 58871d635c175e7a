//go:build !linux

package containerd

import "errors"

// logWatch is Linux's inotify; elsewhere following polls.
type logWatch struct {
	grew, closed chan struct{}
}

func watchLog(string, int) (*logWatch, error) { return nil, errors.New("inotify is Linux only") }

func (w *logWatch) Close() error { return nil }
