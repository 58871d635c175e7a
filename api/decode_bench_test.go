package api

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// statusBatchBody is what an agent posts to /v1/allocations/status for a
// node with ten replicas that just started, two of them with an event.
func statusBatchBody(tb testing.TB) []byte {
	b := AllocStatusBatch{Node: "fake-00042"}
	for i := range 10 {
		b.Updates = append(b.Updates, AllocStatusUpdate{ID: fmt.Sprintf("0b6f1f0e-5d2c-4a51-9c1e-%012d", i), Status: AllocRunning, Ready: true, Address: fmt.Sprintf("127.186.0.%d", i)})
	}
	for i := range 2 {
		b.Events = append(b.Events, AllocEvent{Allocation: b.Updates[i].ID, Type: "Started", Message: "task started", Time: time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)})
	}
	data, err := json.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func BenchmarkDecodeStrictStatusBatch(b *testing.B) {
	data := statusBatchBody(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var batch AllocStatusBatch
		if err := DecodeStrict("request", "", data, &batch); err != nil {
			b.Fatal(err)
		}
	}
}
