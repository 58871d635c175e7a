package scenario

import (
	"context"
	"time"

	"flotilla/api"
)

// Event follower timings: how long one blocking query waits for news, and
// how long to wait after a failed one (a server died, no leader yet).
const (
	eventsWait  = 5 * time.Second
	eventsRetry = 200 * time.Millisecond
)

// newestEventID is the ID of the cluster's newest event, where a run's
// log starts: what happened before it is not the scenario's.
func newestEventID(ctx context.Context, r Reader) (uint64, error) {
	events, index, err := r.Events(ctx, api.EventFilter{}, api.QueryOptions{})
	if err != nil {
		return 0, err
	}
	for _, e := range events {
		index = max(index, e.ID)
	}
	return index, nil
}

// followEvents hands every event after the given ID to seen, in order,
// until ctx ends. A failed query (the server it asked died, there is no
// leader) is tried again after a moment from where it was, so nothing is
// lost or seen twice.
func followEvents(ctx context.Context, r Reader, after uint64, seen func(*api.Event)) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for ctx.Err() == nil {
		events, index, err := r.Events(ctx, api.EventFilter{}, api.QueryOptions{Index: after, Wait: eventsWait})
		if err != nil {
			retry.Reset(eventsRetry)
			select {
			case <-ctx.Done():
			case <-retry.C:
			}
			continue
		}
		for _, e := range events {
			if e.ID <= after {
				continue
			}
			seen(e)
			after = e.ID
		}
		after = max(after, index)
	}
}
