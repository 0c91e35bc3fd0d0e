package api_test

import (
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// TestStoredFormsOverHTTP: consents an earlier release stored under contact
// points that the normalization now refuses (with region BY, "08100000000"
// was stored as +3758100000000, whose E.164 form reads back as another,
// invalid number; alice@exаmple.com, with a Cyrillic а, as
// alice@xn--exmple-4nf.com) can be read, decided on by the index, opted out,
// stopped by SMS STOP and erased over HTTP; a new opt-in is refused.
func TestStoredFormsOverHTTP(t *testing.T) {
	e := newEnv(t)
	w, admin, read, check := e.a.key(consentd.RoleWrite), e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleRead), e.a.key(consentd.RoleCheck)
	e.must("PATCH", "/v1/workspace", admin, map[string]string{"default_region": "BY"}, 200)
	const phone, email = "+3758100000000", "alice@xn--exmple-4nf.com"
	t0 := time.Now().Add(-time.Hour)
	restore := consentd.LegacyWritesForTest()
	e.must("POST", "/v1/consents", w, write("08100000000", "newsletter", "", "sms", "opted_in", t0), 201)
	e.must("POST", "/v1/consents", w, write("08100000000", "newsletter", "weekly", "sms", "opted_in", t0), 201)
	e.must("POST", "/v1/consents", w, write("alice@ex\u0430mple.com", "newsletter", "", "email", "opted_in", t0), 201)
	restore()

	if p := e.must("POST", "/v1/consents", w, write(phone, "newsletter", "", "sms", "opted_in", t0.Add(time.Minute)), 422).problem(t); p.Code != "invalid_contact_point" {
		t.Errorf("opt-in of %s = %+v; want invalid_contact_point", phone, p)
	}
	var c struct {
		ContactPoint string `json:"contact_point"`
		Status       string `json:"status"`
	}
	for _, id := range []string{phone + "#newsletter:sms", "08100000000#newsletter:sms", email + "#newsletter:email"} {
		e.must("GET", consentPath(id), read, nil, 200).decode(t, &c)
		if c.Status != "opted_in" {
			t.Errorf("GET %s = %+v; want opted_in", id, c)
		}
	}
	e.wantDecision(check, phone, "sms", "newsletter", "", true, "opted_in")
	e.wantDecision(check, "alice@ex\u0430mple.com", "email", "newsletter", "", true, "opted_in")

	e.must("POST", "/v1/consents", w, write(email, "newsletter", "", "email", "opted_out", t0.Add(time.Minute)), 200)
	e.wantDecision(check, email, "email", "newsletter", "", false, "opted_out")

	var a inboundAnswer
	e.must("POST", "/v1/inbound/sms", w, map[string]string{"from": phone, "text": "STOP"}, 200).decode(t, &a)
	if a.Action != "opted_out" || len(a.Consents) != 2 || a.Suppression == nil {
		t.Errorf("STOP from %s = %+v; want both SMS consents opted out and a suppression", phone, a)
	}
	e.wantDecision(check, phone, "sms", "newsletter", "", false, "suppressed")

	e.must("POST", "/v1/suppressions", w, map[string]string{"contact_point": email, "kind": "email", "reason": "erased"}, 201)
	e.wantDecision(check, email, "email", "newsletter", "", false, "suppressed")
}
