package scenario

import (
	"context"
	"errors"
	"fmt"
	"time"

	"flotilla/api"
)

// A run on a cluster it did not start (Runner.Shared: run --address) acts
// only on services it creates. The rule, by namespace/name as the steps
// say them (an empty namespace is default; a namespace is only part of a
// service's name, nothing of it is created or removed):
//
//   - before anything changes, the run is refused when a service one of
//     its apply steps names already exists (Run), and when a delete,
//     scale, rollout or fault step names a service no apply step of the
//     scenario names (Check): a service the user has is never updated,
//     scaled, rolled, crashed or deleted by a scenario;
//   - at the end (unless Runner.Keep) the run deletes the services it
//     created, and only those: the one an apply created, as long as it is
//     still that one (the same create index). One created meanwhile by
//     someone else, under another name or under the same name after the
//     scenario deleted its own, is left alone.
//
// Reading is not changing: waits, expectations and loads may name any
// service.

// cleanupTimeout bounds the deletes at the end of a shared run.
const cleanupTimeout = 10 * time.Second

// createdService is a service the run created: Index is the write that
// created it (its CreateIndex; 0 when the cluster did not say).
type createdService struct {
	Namespace, Name string
	Index           uint64
}

func (c createdService) key() string { return c.Namespace + "/" + c.Name }

// onlyOwn is why a shared run is refused.
const onlyOwn = "a scenario only runs on services it creates"

// changedService is the service a step changes other than by applying
// it: the one a delete, scale, rollout or app fault names ("" for other
// steps).
func (s *Step) changedService() (namespace, name string) {
	switch {
	case s.Delete != nil:
		return namespaceOr(s.Delete.Namespace), s.Delete.Service
	case s.Scale != nil:
		return namespaceOr(s.Scale.Namespace), s.Scale.Service
	case s.Rollout != nil:
		return namespaceOr(s.Rollout.Namespace), s.Rollout.Service
	case s.Fault != nil && s.Fault.nodeTarget() == "" && s.Fault.Service != "":
		return namespaceOr(s.Fault.Namespace), s.Fault.Service
	}
	return "", ""
}

// checkShared refuses, on a cluster the run did not start, a step that
// changes a service the scenario does not apply.
func (r *Runner) checkShared(s *Step, applied map[string]bool) error {
	ns, name := s.changedService()
	if name == "" || applied[ns+"/"+name] {
		return nil
	}
	return fmt.Errorf("service %s/%s is not one the scenario applies: on a cluster it did not start, %s (run the scenario in its own lab)", ns, name, onlyOwn)
}

// checkNew refuses a shared run before anything changes when a service
// an apply step of it names already exists: the step and the service.
func (r *run) checkNew(ctx context.Context) error {
	seen := map[string]bool{}
	for i := range r.sc.Steps {
		if !r.plays(&r.sc.Steps[i]) {
			continue
		}
		for _, spec := range r.sc.Specs(i) {
			key := spec.Namespace + "/" + spec.Name
			if seen[key] {
				continue
			}
			seen[key] = true
			_, _, err := r.cluster.Service(ctx, spec.Namespace, spec.Name, api.QueryOptions{})
			switch {
			case errors.Is(err, api.ErrNotFound):
			case err != nil:
				return &StepError{Index: i, Kind: KindApply, Err: fmt.Errorf("see whether service %s exists on this cluster: %w", key, err)}
			default:
				return &StepError{Index: i, Kind: KindApply, Err: fmt.Errorf("service %s already exists on this cluster: %s (delete it, or run the scenario in its own lab)", key, onlyOwn)}
			}
		}
	}
	return nil
}

// recordCreated records a service an apply created (again, after the scenario
// deleted it: the newer write).
func (r *run) recordCreated(spec api.ServiceSpec, index uint64) {
	c := createdService{Namespace: spec.Namespace, Name: spec.Name, Index: index}
	for i := range r.created {
		if r.created[i].key() == c.key() {
			r.created[i] = c
			return
		}
	}
	r.created = append(r.created, c)
}

// removeCreated deletes the services the run created that are still the
// ones it created, even when ctx was cancelled (Ctrl-C).
func (r *run) removeCreated(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var errs []error
	for _, c := range r.created {
		if c.Index != 0 {
			svc, _, err := r.cluster.Service(ctx, c.Namespace, c.Name, api.QueryOptions{})
			if errors.Is(err, api.ErrNotFound) {
				continue // the scenario deleted it
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("remove service %s: %w", c.key(), err))
				continue
			}
			if svc.CreateIndex != c.Index {
				continue // deleted and created again by someone else
			}
		}
		if _, err := r.cluster.DeleteService(ctx, c.Namespace, c.Name); err != nil && !errors.Is(err, api.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove service %s: %w", c.key(), err))
		}
	}
	return errors.Join(errs...)
}
