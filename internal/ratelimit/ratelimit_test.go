package ratelimit_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/consentd/consentd/internal/ratelimit"
	"golang.org/x/time/rate"
)

func TestLimiter(t *testing.T) {
	l := ratelimit.New(rate.Every(time.Minute), 3, 2)
	now := time.Now()
	for i := 0; i < 3; i++ {
		if !l.Allow("a", now) {
			t.Fatalf("Allow(a) #%d = false; want the burst of 3", i+1)
		}
	}
	if l.Allow("a", now) {
		t.Fatal("Allow(a) #4 = true; want the bucket empty")
	}
	if !l.Allow("a", now.Add(time.Minute)) {
		t.Fatal("Allow(a) a minute later = false; want a refilled token")
	}
	// Bounded: a third key evicts the least recently used.
	l.Allow("b", now)
	l.Allow("c", now)
	if n := l.Len(); n != 2 {
		t.Fatalf("Len = %d; want 2 (bounded)", n)
	}
	for i := 0; i < 100; i++ {
		l.Allow(fmt.Sprint(i), now)
	}
	if n := l.Len(); n != 2 {
		t.Fatalf("Len after 100 keys = %d; want 2", n)
	}
}

func TestLimiterIsBounded(t *testing.T) {
	l := ratelimit.New(1, 2, 100)
	now := time.Now()
	for i := range 1000 {
		l.Allow(fmt.Sprint(i), now)
	}
	if l.Len() != 100 {
		t.Errorf("limiter keeps %d keys; want at most 100", l.Len())
	}
	if !l.Allow("a", now) || !l.Allow("a", now) || l.Allow("a", now) {
		t.Errorf("a bucket of burst 2 did not allow 2, then refuse")
	}
	if !l.Allow("a", now.Add(time.Second)) {
		t.Errorf("a bucket did not refill")
	}
}

func TestTakeSaysHowLongToWait(t *testing.T) {
	l := ratelimit.New(rate.Every(10*time.Second), 1, 10)
	now := time.Now()
	if ok, _ := l.Take("a", now); !ok {
		t.Fatal("Take #1 = false; want the burst")
	}
	ok, wait := l.Take("a", now.Add(4*time.Second))
	if ok || wait < 5*time.Second || wait > 6100*time.Millisecond {
		t.Errorf("Take 4 s later = %v, wait %v; want refused, about 6 s to wait", ok, wait)
	}
	if ok, _ := l.Take("a", now.Add(10*time.Second)); !ok {
		t.Error("Take 10 s later = false; want the refilled token (a refused Take takes nothing)")
	}
}

// TestWaitTakesNothing: Wait says when a token is back without taking one.
func TestWaitTakesNothing(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := ratelimit.New(rate.Every(6*time.Second), 2, 10)
	if w := l.Wait("a", now); w != 0 {
		t.Fatalf("Wait on a new key = %v; want 0", w)
	}
	for i := 0; i < 2; i++ {
		if l.Wait("a", now) != 0 || !l.Allow("a", now) {
			t.Fatalf("token %d: not there", i+1)
		}
	}
	if w := l.Wait("a", now); w != 6*time.Second {
		t.Errorf("Wait with an empty bucket = %v; want 6s", w)
	}
	if w := l.Wait("a", now); w != 6*time.Second {
		t.Errorf("Wait took a token: the second Wait = %v; want 6s", w)
	}
	if w := l.Wait("a", now.Add(6*time.Second)); w != 0 || !l.Allow("a", now.Add(6*time.Second)) {
		t.Errorf("after 6s, Wait = %v; want 0 and a token", w)
	}
}
