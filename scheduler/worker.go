package scheduler

import (
	"context"
	"errors"
	"time"

	"flotilla/api"
)

// maxPlanAttempts bounds how often a worker recomputes a plan the applier
// partly refused before it parks the evaluation as blocked.
const maxPlanAttempts = 5

// worker takes evaluations from the broker and schedules them, until ctx
// ends.
func (s *Server) worker(ctx context.Context, plans *planApplier) {
	for {
		eval, superseded, err := s.broker.Dequeue(ctx)
		if err != nil {
			return
		}
		s.process(ctx, plans, eval, superseded)
		s.broker.Done(eval)
	}
}

// process computes and submits plans for one evaluation until one is
// accepted whole, or gives up and leaves it blocked.
func (s *Server) process(ctx context.Context, plans *planApplier, eval *api.Evaluation, superseded []string) {
	log := s.cfg.Logger.With("eval", eval.ID, "service", eval.ServiceKey())
	for attempt := 1; ; attempt++ {
		snap := s.store.Snapshot()
		snapIndex := snap.LatestIndex()
		plan := computePlan(snap, eval, planContext{ClusterID: snap.ClusterID(), Now: s.cfg.Clock.Now(), Figures: s.trafficWindow, ABVisitors: s.abVisitors, Diffs: s.shadowDiffs})
		plan.Canceled = superseded
		res := plans.submit(ctx, plan)
		if res.Err != nil {
			if ctx.Err() != nil || errors.Is(res.Err, api.ErrNoLeader) {
				return // a new leader runs the evaluation again from state
			}
			// Raft could not commit (a timeout, a disk error): try again
			// later rather than leave it pending until the next leader.
			log.Warn("submit plan; retrying in a second", "err", res.Err)
			s.cfg.Clock.AfterFunc(time.Second, func() { s.broker.Enqueue(eval) })
			return
		}
		if res.Refused == 0 || attempt == maxPlanAttempts {
			if res.Refused > 0 {
				// Give up for now: park it until capacity changes.
				s.broker.Block(eval, snapIndex)
				return
			}
			if plan.Eval != nil && plan.Eval.Status == api.EvalBlocked {
				s.broker.Block(eval, snapIndex)
			}
			s.metrics.evalLatency.Observe(s.cfg.Clock.Now().Sub(eval.CreateTime).Seconds())
			return
		}
		superseded = nil
		log.Debug("plan partly refused; retrying", "refused", res.Refused, "attempt", attempt)
	}
}
