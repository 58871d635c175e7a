package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWithTimeoutEndsOnTheClock(t *testing.T) {
	fake := NewFake(time.Unix(0, 0))
	ctx, cancel := WithTimeout(context.Background(), fake, time.Hour)
	defer cancel()
	fake.Advance(time.Hour - time.Nanosecond)
	if ctx.Err() != nil {
		t.Fatalf("ended before the hour: %v", ctx.Err())
	}
	fake.Advance(time.Nanosecond)
	if ctx.Err() == nil || !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Fatalf("after the hour: err %v, cause %v; want ended by its deadline", ctx.Err(), context.Cause(ctx))
	}
	if _, ok := ctx.Deadline(); ok {
		t.Error("a deadline on the wall clock, want none")
	}
}

func TestWithTimeoutCancelStopsItsTimer(t *testing.T) {
	fake := NewFake(time.Unix(0, 0))
	ctx, cancel := WithTimeout(context.Background(), fake, time.Hour)
	cancel()
	if ctx.Err() == nil || fake.Waiters() != 0 {
		t.Fatalf("after cancel: err %v, %d timers armed; want ended and none", ctx.Err(), fake.Waiters())
	}
}
