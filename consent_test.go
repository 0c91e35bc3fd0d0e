package consentd_test

import (
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// TestApply covers the write ordering rules of docs/decisions.md.
func TestApply(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	cur := &consentd.Consent{Status: consentd.OptedIn, CapturedAt: t0}
	tests := []struct {
		name    string
		cur     *consentd.Consent
		status  consentd.Status
		at      time.Time
		applied bool
		outcome consentd.Outcome
	}{
		{"first write creates", nil, consentd.OptedIn, t0, true, consentd.Created},
		{"newer write changes", cur, consentd.OptedOut, t0.Add(time.Second), true, consentd.Changed},
		{"newer write with the same status moves captured_at", cur, consentd.OptedIn, t0.Add(time.Second), true, consentd.Changed},
		{"older write is superseded", cur, consentd.OptedOut, t0.Add(-time.Second), false, consentd.Superseded},
		{"same write twice is unchanged", cur, consentd.OptedIn, t0, false, consentd.Unchanged},
		{"opted_out wins a tie", cur, consentd.OptedOut, t0, true, consentd.Changed},
		{"opted_in loses a tie to opted_out", &consentd.Consent{Status: consentd.OptedOut, CapturedAt: t0}, consentd.OptedIn, t0, false, consentd.Superseded},
		{"pending beats opted_in in a tie", cur, consentd.Pending, t0, true, consentd.Changed},
	}
	for _, tt := range tests {
		w := &consentd.ConsentWrite{Status: tt.status, CapturedAt: tt.at}
		applied, outcome := consentd.Apply(tt.cur, w)
		if applied != tt.applied || outcome != tt.outcome {
			t.Errorf("Apply(%s) = %v, %q; want %v, %q", tt.name, applied, outcome, tt.applied, tt.outcome)
		}
	}
}

// TestApplyOrderIndependent replays every permutation of a set of writes and
// checks they all end in the same state.
func TestApplyOrderIndependent(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	writes := []consentd.ConsentWrite{
		{Status: consentd.OptedIn, CapturedAt: t0},
		{Status: consentd.OptedOut, CapturedAt: t0},
		{Status: consentd.Pending, CapturedAt: t0.Add(-time.Hour)},
		{Status: consentd.OptedIn, CapturedAt: t0.Add(-time.Minute)},
	}
	var want *consentd.Consent
	permute(len(writes), func(order []int) {
		var cur *consentd.Consent
		for _, i := range order {
			if applied, _ := consentd.Apply(cur, &writes[i]); applied {
				cur = &consentd.Consent{Status: writes[i].Status, CapturedAt: writes[i].CapturedAt}
			}
		}
		if want == nil {
			want = cur
		} else if cur.Status != want.Status || !cur.CapturedAt.Equal(want.CapturedAt) {
			t.Errorf("order %v ends in %s@%s; want %s@%s", order, cur.Status, cur.CapturedAt, want.Status, want.CapturedAt)
		}
	})
	if want.Status != consentd.OptedOut {
		t.Errorf("final status %s; want opted_out", want.Status)
	}
}

func permute(n int, f func([]int)) {
	a := make([]int, n)
	for i := range a {
		a[i] = i
	}
	var gen func(k int)
	gen = func(k int) {
		if k == 1 {
			f(a)
			return
		}
		for i := 0; i < k; i++ {
			gen(k - 1)
			if k%2 == 0 {
				a[i], a[k-1] = a[k-1], a[i]
			} else {
				a[0], a[k-1] = a[k-1], a[0]
			}
		}
	}
	gen(n)
}

func TestWriteValidate(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	ok := consentd.ConsentWrite{ContactPoint: "a@b.de", Channel: "email", Purpose: "p", Status: consentd.OptedIn, CapturedAt: now, Source: consentd.Source{Type: "form"}}
	tests := []struct {
		name string
		mod  func(w *consentd.ConsentWrite)
		code string
	}{
		{"valid", func(w *consentd.ConsentWrite) {}, ""},
		{"within skew", func(w *consentd.ConsentWrite) { w.CapturedAt = now.Add(time.Minute) }, ""},
		{"future", func(w *consentd.ConsentWrite) { w.CapturedAt = now.Add(time.Hour) }, consentd.EFUTURECAPTUREDAT},
		{"no time", func(w *consentd.ConsentWrite) { w.CapturedAt = time.Time{} }, consentd.EINVALIDTIME},
		{"bad status", func(w *consentd.ConsentWrite) { w.Status = "yes" }, consentd.EINVALIDSTATUS},
		{"bad source", func(w *consentd.ConsentWrite) { w.Source.Type = "web" }, consentd.EINVALID},
		{"bad jurisdiction", func(w *consentd.ConsentWrite) { w.Jurisdiction = "germany" }, consentd.EINVALID},
		{"no channel", func(w *consentd.ConsentWrite) { w.Channel = "" }, consentd.EINVALID},
		{"no purpose", func(w *consentd.ConsentWrite) { w.Purpose = "" }, consentd.EUNKNOWNPURPOSE},
		{"no contact point", func(w *consentd.ConsentWrite) { w.ContactPoint = "" }, consentd.EINVALIDCONTACTPOINT},
	}
	for _, tt := range tests {
		w := ok
		tt.mod(&w)
		if got := consentd.ErrorCode(w.Validate(now)); got != tt.code {
			t.Errorf("Validate(%s) = %q; want %q", tt.name, got, tt.code)
		}
	}
}

func TestPurposeValidate(t *testing.T) {
	tests := []struct {
		name string
		p    consentd.Purpose
		code string
	}{
		{"commercial email non_restrictive", consentd.Purpose{ID: "news", Name: "N", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.NonRestrictive}}}, ""},
		{"commercial sms non_restrictive refused", consentd.Purpose{ID: "news", Name: "N", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"sms": {Enforcement: consentd.NonRestrictive}}}, consentd.EINVALID},
		{"commercial custom channel defaults restrictive", consentd.Purpose{ID: "news", Name: "N", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"line-app": {}}}, ""},
		{"disabled for commercial refused", consentd.Purpose{ID: "news", Name: "N", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {Enforcement: consentd.Disabled}}}, consentd.EINVALID},
		{"disabled for transactional", consentd.Purpose{ID: "orders", Name: "O", Type: consentd.Transactional, Channels: map[string]consentd.ChannelSetting{"sms": {Enforcement: consentd.Disabled}}}, ""},
		{"bad id", consentd.Purpose{ID: "News!", Name: "N", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}}}, consentd.EINVALID},
		{"bad type", consentd.Purpose{ID: "n", Name: "N", Type: "marketing", Channels: map[string]consentd.ChannelSetting{"email": {}}}, consentd.EINVALID},
		{"no channels", consentd.Purpose{ID: "n", Name: "N", Type: consentd.Commercial}, consentd.EINVALID},
		{"double opt-in list", consentd.Purpose{ID: "n", Name: "N", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}}, DoubleOptIn: consentd.DoubleOptIn{"DE", "AT", "CA"}}, ""},
		{"double opt-in garbage", consentd.Purpose{ID: "n", Name: "N", Type: consentd.Commercial, Channels: map[string]consentd.ChannelSetting{"email": {}}, DoubleOptIn: consentd.DoubleOptIn{"sometimes"}}, consentd.EINVALID},
	}
	for _, tt := range tests {
		p := tt.p
		p.Normalize()
		if got := consentd.ErrorCode(p.Validate()); got != tt.code {
			t.Errorf("Validate(%s) = %q; want %q (%v)", tt.name, got, tt.code, p.Validate())
		}
	}
}
