package state

import (
	"fmt"

	"flotilla/api"
	"flotilla/scheduler/rollout"
)

func (tx *applyTxn) rollout(ns, name string) *api.Rollout {
	if raw := tx.first(tableRollouts, ns, name); raw != nil {
		return raw.(*api.Rollout)
	}
	return nil
}

// putRollout stores a rollout's new state.
func (tx *applyTxn) putRollout(r *api.Rollout) {
	r.ModifyTime, r.ModifyIndex = tx.now, tx.index
	if r.CreateIndex == 0 {
		r.CreateIndex = tx.index
	}
	tx.insert(tableRollouts, r)
}

// startRollout begins the rollout of the service's new revision over
// whatever ran before (superseding a rollout still running) and gives a
// blue-green or canary rollout its preview VIP.
func (tx *applyTxn) startRollout(svc *api.Service, vipPool string) {
	tx.startRolloutWhy(svc, vipPool, "")
}

// startRolloutWhy is startRollout with why the rollout starts added to
// its reason ("" for a new revision).
func (tx *applyTxn) startRolloutWhy(svc *api.Service, vipPool, why string) {
	prev := tx.rollout(svc.Namespace, svc.Name)
	if prev != nil && prev.CreateIndex < svc.CreateIndex {
		prev = nil // left by a deleted service of the same name
	}
	if prev == nil && svc.Revision > 1 {
		// A service from before rollouts were stored: what ran is the
		// revision before this one.
		prev = &api.Rollout{Revision: svc.Revision - 1, StableRevision: svc.Revision - 1, Phase: api.PhaseCompleted}
	}
	r := rollout.New(svc, prev, tx.now)
	if why != "" {
		r.Reason += "; " + why
	}
	r.StartIndex = tx.index
	if old := tx.rollout(svc.Namespace, svc.Name); old != nil {
		r.CreateIndex = old.CreateIndex
		if r.Active() && rollout.NeedsPreview(r.Strategy) && svc.VIP != "" {
			r.PreviewVIP = old.PreviewVIP // "" when it had none
		}
	}
	if r.Active() && rollout.NeedsPreview(r.Strategy) && svc.VIP != "" && r.PreviewVIP == "" {
		r.PreviewVIP = tx.allocateVIP(vipPool, api.ServiceSpec{}, "")
	}
	tx.putRollout(r)
	if r.Active() {
		tx.event(api.Event{Type: api.EventRolloutStarted, Namespace: svc.Namespace, Service: svc.Name,
			Message: fmt.Sprintf("%s/%s: %s", svc.Namespace, svc.Name, r.Reason)})
	}
}

// rolloutAction applies a person's promote, pause, resume or abort. An
// abort moves traffic back to the stable revision in this very write; the
// evaluation it makes stops the new revision's replicas.
func (tx *applyTxn) rolloutAction(c *RolloutAction) (*UpsertServiceResult, error) {
	svc := tx.service(c.Namespace, c.Name)
	if svc == nil {
		return nil, fmt.Errorf("service %s/%s: %w", c.Namespace, c.Name, api.ErrNotFound)
	}
	old := tx.rollout(c.Namespace, c.Name)
	if c.Action == api.ActionRetry {
		return tx.retryRollout(c, svc, old)
	}
	if old == nil || !old.Active() {
		phase := "no rollout"
		if old != nil {
			phase = "its last rollout " + old.Phase
		}
		return nil, fmt.Errorf("service %s/%s has no rollout in progress (%s): %w", c.Namespace, c.Name, phase, api.ErrConflict)
	}
	r := *old
	r.Weights = copyWeights(old.Weights)
	who := "by hand"
	var typ, msg string
	switch c.Action {
	case api.ActionPromote:
		if r.Strategy == api.RolloutRamped {
			return nil, fmt.Errorf("a ramped rollout has nothing to promote (pause, resume or abort it): %w", api.ErrConflict)
		}
		switch {
		case r.Strategy == api.RolloutBlueGreen && !r.PromoteTime.IsZero():
			return nil, fmt.Errorf("revision %d of %s/%s is promoted already (abort goes back to revision %d): %w", r.Revision, c.Namespace, c.Name, r.StableRevision, api.ErrConflict)
		case r.Promote && (r.PromoteFull || !c.Full):
			return nil, fmt.Errorf("a promotion of revision %d of %s/%s is asked already: %w", r.Revision, c.Namespace, c.Name, api.ErrConflict)
		}
		r.Promote, r.PromoteFull = true, c.Full
		r.Paused = false
		typ, msg = api.EventRolloutPromoted, fmt.Sprintf("promotion of revision %d asked %s", r.Revision, who)
		if c.Full {
			msg = fmt.Sprintf("full promotion of revision %d asked %s", r.Revision, who)
		}
	case api.ActionPause:
		if r.Paused {
			return nil, fmt.Errorf("the rollout of revision %d of %s/%s is paused already: %w", r.Revision, c.Namespace, c.Name, api.ErrConflict)
		}
		r.Paused, r.Phase = true, api.PhasePaused
		typ, msg = api.EventRolloutPaused, fmt.Sprintf("rollout of revision %d paused %s", r.Revision, who)
	case api.ActionResume:
		if !r.Paused {
			if r.Phase == api.PhasePaused {
				return nil, fmt.Errorf("the rollout of revision %d of %s/%s waits at a pause step of its own: promote moves it on: %w", r.Revision, c.Namespace, c.Name, api.ErrConflict)
			}
			return nil, fmt.Errorf("the rollout of revision %d of %s/%s is not paused: %w", r.Revision, c.Namespace, c.Name, api.ErrConflict)
		}
		r.Paused, r.Phase = false, api.PhaseProgressing
		// Time spent paused does not count against the deadline.
		r.ProgressTime = tx.now
		typ, msg = api.EventRolloutResumed, fmt.Sprintf("rollout of revision %d resumed %s", r.Revision, who)
	case api.ActionAbort:
		r.Phase = api.PhaseAborted
		r.Weights = map[int]int{r.StableRevision: 100}
		r.Paused, r.Promote, r.PromoteFull = false, false, false
		r.EndTime = tx.now
		typ, msg = api.EventRolloutAborted, fmt.Sprintf("rollout of revision %d aborted %s; all traffic back to revision %d", r.Revision, who, r.StableRevision)
	default:
		return nil, &api.FieldError{Field: "action", Message: fmt.Sprintf("unknown rollout action %q", c.Action)}
	}
	r.Reason = msg
	tx.putRollout(&r)
	tx.event(api.Event{Type: typ, Namespace: c.Namespace, Service: c.Name, Message: fmt.Sprintf("%s/%s: %s", c.Namespace, c.Name, msg)})
	eval := tx.newEval(c.Namespace, c.Name, api.TriggerRollout, "")
	return &UpsertServiceResult{Revision: svc.Revision, Changed: true, EvalID: eval.ID}, nil
}

// retryRollout starts the rollout of the service's revision again once it
// was aborted or failed (Argo Rollouts' retry): over the same stable
// revision, from its first step, with a fresh analysis, experiment or
// shadow comparison. Only the newest revision's rollout can be retried:
// a new revision starts a rollout of its own.
func (tx *applyTxn) retryRollout(c *RolloutAction, svc *api.Service, old *api.Rollout) (*UpsertServiceResult, error) {
	if old == nil || old.CreateIndex < svc.CreateIndex || (old.Phase != api.PhaseAborted && old.Phase != api.PhaseFailed) {
		what := "it has no rollout"
		if old != nil && old.CreateIndex >= svc.CreateIndex {
			what = fmt.Sprintf("the rollout of revision %d is %s", old.Revision, old.Phase)
		}
		return nil, fmt.Errorf("service %s/%s has no aborted or failed rollout to retry (%s): %w", c.Namespace, c.Name, what, api.ErrConflict)
	}
	tx.startRolloutWhy(svc, c.VIPPool, "retried by hand")
	eval := tx.newEval(c.Namespace, c.Name, api.TriggerRollout, "")
	return &UpsertServiceResult{Revision: svc.Revision, Changed: true, EvalID: eval.ID}, nil
}

// evaluate makes an evaluation of a service, if it still exists.
func (tx *applyTxn) evaluate(c *Evaluate) error {
	if tx.service(c.Namespace, c.Name) == nil {
		return fmt.Errorf("service %s/%s: %w", c.Namespace, c.Name, api.ErrNotFound)
	}
	tx.newEval(c.Namespace, c.Name, c.Trigger, "")
	return nil
}

// planRolloutCurrent reports whether the rollout a plan was computed from
// is still the stored one.
func (tx *applyTxn) planRolloutCurrent(p *Plan) bool {
	if p.Rollout == nil && p.RolloutIndex == 0 {
		return true // no rollout state was read (a service deleted, a test)
	}
	cur := tx.rollout(p.Namespace, p.Service)
	if cur == nil {
		return p.RolloutIndex == 0
	}
	return cur.ModifyIndex == p.RolloutIndex
}

// applyPlanRollout stores the rollout state a plan carries, with its
// events.
func (tx *applyTxn) applyPlanRollout(p *Plan) {
	if p.Rollout == nil {
		return
	}
	svc := tx.service(p.Namespace, p.Service)
	if svc == nil {
		return
	}
	r := *p.Rollout
	if cur := tx.rollout(p.Namespace, p.Service); cur != nil {
		r.CreateIndex = cur.CreateIndex
	}
	tx.putRollout(&r)
	for _, e := range p.RolloutEvents {
		tx.event(api.Event{Type: e.Type, Namespace: p.Namespace, Service: p.Service, Message: e.Message})
	}
}

func copyWeights(w map[int]int) map[int]int {
	out := make(map[int]int, len(w))
	for k, v := range w {
		out[k] = v
	}
	return out
}
