package console

import (
	"testing"
	"time"

	"github.com/consentd/consentd"
)

func TestDueState(t *testing.T) {
	day := 24 * time.Hour
	received := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	due := received.Add(40 * day)
	for _, c := range []struct {
		now          time.Time
		class, words string
	}{
		{received.Add(day), "due-early", "39 days left"},
		{received.Add(10 * day), "due-half", "30 days left"}, // exactly 75% left
		{received.Add(30 * day), "due-late", "10 days left"}, // exactly 25% left
		{due.Add(-time.Hour), "due-late", "less than a day left"},
		{due.Add(time.Hour), "overdue", "overdue by 1 day"},
		{due.Add(3 * day), "overdue", "overdue by 3 days"},
	} {
		if class, words := dueState(received, due, c.now); class != c.class || words != c.words {
			t.Errorf("at %s: %s %q; want %s %q", c.now, class, words, c.class, c.words)
		}
	}
}

func TestAKey(t *testing.T) {
	for role, want := range map[consentd.Role]string{consentd.RoleRead: "A read key", consentd.RoleAgent: "An agent key", consentd.RoleAdmin: "An admin key", consentd.RoleWrite: "A write key"} {
		if got := aKey(role); got != want {
			t.Errorf("aKey(%s) = %q; want %q", role, got, want)
		}
	}
}
