package scheduler

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/scheduler/state"
)

// scriptedApply records what the coalescer commits; each commit waits for
// the test to release it.
type scriptedApply struct {
	mu      sync.Mutex
	entries []any
	release chan struct{}
	entered chan struct{}
}

func (a *scriptedApply) apply(t state.CommandType, body any) (uint64, error) {
	a.mu.Lock()
	a.entries = append(a.entries, body)
	index := uint64(len(a.entries))
	a.mu.Unlock()
	a.entered <- struct{}{}
	<-a.release
	return index, nil
}

func TestReportsArrivingWhileAnEntryCommitsGoTogetherInTheNext(t *testing.T) {
	a := &scriptedApply{release: make(chan struct{}), entered: make(chan struct{}, 16)}
	c := newStatusCoalescer(a.apply)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	report := func(node string) state.AllocStatus {
		return state.AllocStatus{Node: node, Updates: []api.AllocStatusUpdate{{ID: node + "-a", Status: api.AllocRunning}}, RequestID: node + "-req"}
	}
	type answer struct {
		node  string
		index uint64
		err   error
	}
	answers := make(chan answer, 16)
	submit := func(node string) {
		go func() {
			index, err := c.submit(ctx, report(node))
			answers <- answer{node, index, err}
		}()
	}

	submit("n0") // alone: committed at once, as a plain report
	<-a.entered
	for i := 1; i <= 5; i++ {
		submit(fmt.Sprintf("n%d", i))
	}
	// All five wait behind n0's entry before it is released.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		waiting := len(c.pending)
		c.mu.Unlock()
		if waiting == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reports waiting, want 5", waiting)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	a.release <- struct{}{}
	<-a.entered
	a.release <- struct{}{}

	got := map[string]uint64{}
	for range 6 {
		select {
		case r := <-answers:
			if r.err != nil {
				t.Fatal(r.err)
			}
			got[r.node] = r.index
		case <-ctx.Done():
			t.Fatal("a report was never answered")
		}
	}
	if len(a.entries) != 2 {
		t.Fatalf("%d entries for 6 reports, want 2", len(a.entries))
	}
	if one, ok := a.entries[0].(*state.AllocStatus); !ok || one.Node != "n0" {
		t.Fatalf("first entry %#v, want n0's report alone", a.entries[0])
	}
	batch, ok := a.entries[1].(*state.AllocStatusBatch)
	if !ok || len(batch.Batches) != 5 {
		t.Fatalf("second entry %#v, want the 5 others together", a.entries[1])
	}
	var nodes []string
	for _, b := range batch.Batches {
		nodes = append(nodes, b.Node)
		if b.RequestID != b.Node+"-req" || len(b.Updates) != 1 {
			t.Errorf("report of %s lost its request ID or updates: %+v", b.Node, b)
		}
	}
	sort.Strings(nodes)
	if fmt.Sprint(nodes) != "[n1 n2 n3 n4 n5]" {
		t.Errorf("batched %v", nodes)
	}
	for node, index := range got {
		if want := map[bool]uint64{true: 1, false: 2}[node == "n0"]; index != want {
			t.Errorf("%s answered index %d, want %d", node, index, want)
		}
	}
}

func TestReportsFromManyNodesAtOnceAllApply(t *testing.T) {
	c := startCluster(t, 1, nil)
	leader := waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const nodes = 40
	registerNodes(t, ctx, client, nodes, api.Resources{CPU: 4000, Memory: 4 << 30})
	if _, err := client.ApplyService(ctx, webSpec(t, "web", nodes, "")); err != nil {
		t.Fatal(err)
	}
	var allocs []*api.Allocation
	eventually(t, 20*time.Second, "every replica placed", func() bool {
		var err error
		allocs, _, err = client.Allocations(ctx, api.AllocFilter{Namespace: "default", Service: "web"}, api.QueryOptions{})
		return err == nil && len(allocs) == nodes
	})
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for i, a := range allocs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := client.UpdateAllocations(ctx, api.AllocStatusBatch{Node: a.Node, Updates: []api.AllocStatusUpdate{
				{ID: a.ID, Status: api.AllocRunning, Ready: true, Address: fmt.Sprintf("127.0.0.%d:8080", i+2)}}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range allocs {
		if got := leader.Store().Snapshot().Allocation(nil, a.ID); got.Status != api.AllocRunning || !got.Ready {
			t.Fatalf("%s is %s after its report was acknowledged", a.ID, got.Status)
		}
	}
}

func TestAReportWhoseSenderGaveUpIsNotWritten(t *testing.T) {
	a := &scriptedApply{release: make(chan struct{}), entered: make(chan struct{}, 16)}
	c := newStatusCoalescer(a.apply)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := make(chan error, 1)
	go func() {
		_, err := c.submit(ctx, state.AllocStatus{Node: "n0"})
		first <- err
	}()
	<-a.entered // n0's entry is being committed
	impatient, giveUp := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() {
		_, err := c.submit(impatient, state.AllocStatus{Node: "n1"})
		gaveUp <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		waiting := len(c.pending)
		c.mu.Unlock()
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("n1's report never queued")
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	giveUp()
	if err := <-gaveUp; err == nil {
		t.Fatal("the report of a sender that gave up answered success")
	}
	a.release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// Nothing else is committed: n1's report was dropped, not written.
	select {
	case <-a.entered:
		t.Fatalf("entries %v: the abandoned report was written", a.entries)
	case <-time.After(200 * time.Millisecond): // a bound, not synchronisation: nothing may arrive
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flushing || len(c.pending) != 0 {
		t.Fatalf("flushing %v with %d pending after the queue drained", c.flushing, len(c.pending))
	}
}

// TestPipelinedReportsKeepAtMostDepthEntriesInFlight: with a pipeline of
// 2, two entries are appended before either commits, a third waits (its
// reports gathering), and every report is answered with its entry's
// index once that commits.
func TestPipelinedReportsKeepAtMostDepthEntriesInFlight(t *testing.T) {
	var mu sync.Mutex
	var appended []state.CommandType
	releases := make(chan chan struct{}, 16)
	c := newStatusCoalescer(func(state.CommandType, any) (uint64, error) { panic("pipelined: the synchronous apply is not used") })
	c.pipeline(func(t state.CommandType, body any) func() (uint64, error) {
		mu.Lock()
		appended = append(appended, t)
		index := uint64(len(appended))
		mu.Unlock()
		release := make(chan struct{})
		releases <- release
		return func() (uint64, error) { <-release; return index, nil }
	}, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	indexes := make(chan uint64, 16)
	submit := func(node string) {
		go func() {
			index, err := c.submit(ctx, state.AllocStatus{Node: node, Updates: []api.AllocStatusUpdate{{ID: node + "-a", Status: api.AllocRunning}}})
			if err != nil {
				t.Error(err)
			}
			indexes <- index
		}()
	}
	submit("n0")
	first := <-releases
	submit("n1")
	second := <-releases
	for i := 2; i < 5; i++ {
		submit(fmt.Sprintf("n%d", i))
	}
	select {
	case <-releases:
		t.Fatal("a third entry was appended while two were in flight")
	case <-time.After(100 * time.Millisecond): // nothing may happen: generous
	}
	close(first)
	if got := <-indexes; got != 1 {
		t.Fatalf("n0 answered with index %d, want 1", got)
	}
	third := <-releases // n2..n4 gathered meanwhile: one entry
	close(second)
	close(third)
	got := []uint64{<-indexes, <-indexes, <-indexes, <-indexes}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	if fmt.Sprint(got) != "[2 3 3 3]" {
		t.Fatalf("indexes %v, want n1 at 2 and the three that gathered at 3", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(appended) != 3 || appended[2] != state.CmdAllocStatusBatch {
		t.Fatalf("appended %v, want two single reports then one batch", appended)
	}
}
