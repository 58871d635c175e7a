package clock

import (
	"context"
	"time"
)

// WithTimeout is context.WithTimeout on c: the context ends once d has
// passed on c (with context.DeadlineExceeded as its cause), or when ctx
// does, or when cancel is called. It has no Deadline: a socket's deadline
// is the kernel's time, not c's.
func WithTimeout(ctx context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	t := c.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return ctx, func() {
		t.Stop()
		cancel(nil)
	}
}
