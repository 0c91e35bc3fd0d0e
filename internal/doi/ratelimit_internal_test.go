package doi

import (
	"fmt"
	"github.com/consentd/consentd/internal/ratelimit"
	"testing"
	"time"
)

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
