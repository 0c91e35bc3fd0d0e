package storetest

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// testCheckpointsBetween: stored checkpoints by size within a range, at
// most a limit, with their text and time, per workspace.
func testCheckpointsBetween(t *testing.T, s Store) {
	e := newEnv(t, s, "test")
	other := newEnv(t, s, "other")
	before := time.Now().Add(-time.Second)
	sizes := []int64{3, 7, 1, 12} // stored out of order
	for _, n := range sizes {
		if err := s.AddCheckpoint(e.ctx, e.ws, n, fmt.Sprintf("checkpoint %d", n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddCheckpoint(e.ctx, other.ws, 5, "other workspace"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		from, to int64
		limit    int
		want     []int64
	}{
		{0, math.MaxInt64, 100, []int64{1, 3, 7, 12}},
		{3, 7, 100, []int64{3, 7}},
		{4, 6, 100, nil},
		{7, 7, 1, []int64{7}},
		{0, math.MaxInt64, 2, []int64{1, 3}},
		{2, math.MaxInt64, 2, []int64{3, 7}},
		{13, math.MaxInt64, 10, nil},
	}
	for _, c := range cases {
		got, err := s.CheckpointsBetween(e.ctx, e.ws, c.from, c.to, c.limit)
		if err != nil {
			t.Fatalf("CheckpointsBetween(%d, %d, %d) = %v", c.from, c.to, c.limit, err)
		}
		var sizes []int64
		for _, r := range got {
			sizes = append(sizes, r.Size)
			if r.Signed != fmt.Sprintf("checkpoint %d", r.Size) || r.CreatedAt.Before(before) || r.CreatedAt.After(time.Now().Add(time.Second)) {
				t.Errorf("CheckpointsBetween(%d, %d, %d): %+v; want its text and the time it was stored", c.from, c.to, c.limit, r)
			}
		}
		if !slices.Equal(sizes, c.want) {
			t.Errorf("CheckpointsBetween(%d, %d, %d) = sizes %v; want %v", c.from, c.to, c.limit, sizes, c.want)
		}
	}
	if got, err := s.CheckpointsBetween(e.ctx, other.ws, 0, math.MaxInt64, 10); err != nil || len(got) != 1 || got[0].Signed != "other workspace" {
		t.Errorf("CheckpointsBetween(other workspace) = %+v, %v; want its one checkpoint", got, err)
	}
	if got, err := s.CheckpointsBetween(e.ctx, "ws_nothere", 0, math.MaxInt64, 10); err != nil || len(got) != 0 {
		t.Errorf("CheckpointsBetween(unknown workspace) = %+v, %v; want none", got, err)
	}
}
