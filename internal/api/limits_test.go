package api_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/api"
	"github.com/consentd/consentd/internal/clientip"
	"golang.org/x/time/rate"
)

func TestRateLimits(t *testing.T) {
	e := newEnv(t)
	admin, check := e.a.key(consentd.RoleAdmin), e.a.key(consentd.RoleCheck)
	decision := `{"contact_point":"jane@example.com","channel":"email","purpose":"newsletter"}`
	e.must("POST", "/v1/decisions", check, decision, 200) // the check key is known to the server now
	e.api.SetLimits(api.Limits{PerKey: rate.Every(1e12), KeyBurst: 3, PerIP: rate.Every(1e12), IPBurst: 5, Entries: 100})

	// A key's bucket: 3, then 429 with Retry-After.
	for range 3 {
		e.must("GET", "/v1/purposes", admin, nil, 200)
	}
	r := e.do("GET", "/v1/purposes", admin, nil)
	if p := r.problem(t); r.status != 429 || p.Code != consentd.ERATELIMITED {
		t.Fatalf("4th request of a key with a burst of 3 = %s; want 429 rate_limited", r)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After = %q; want whole seconds", r.header.Get("Retry-After"))
	}
	// Check keys are not limited by default, by key or by address.
	for range 20 {
		e.must("POST", "/v1/decisions", check, decision, 200)
	}
	// The address's bucket: admin took 4 of 5; guessed keys take the rest.
	if r := e.do("GET", "/v1/purposes", "cdk_guess", nil); r.status != 401 {
		t.Errorf("a wrong key = %s; want 401 while the address has tokens", r)
	}
	if r := e.do("GET", "/v1/purposes", "cdk_guess", nil); r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("a wrong key over the address's limit = %s; want 429 with Retry-After", r)
	}
	// Another workspace's key from the same address: the address is out.
	if r := e.do("GET", "/v1/purposes", e.b.key(consentd.RoleAdmin), nil); r.status != 429 {
		t.Errorf("another key from the same address = %s; want 429", r)
	}

	// CheckKeys: check keys count too.
	e.api.SetLimits(api.Limits{PerKey: rate.Every(1e12), KeyBurst: 2, CheckKeys: true, Entries: 100})
	e.must("POST", "/v1/decisions", check, decision, 200)
	e.must("POST", "/v1/decisions", check, decision, 200)
	if r := e.do("POST", "/v1/decisions", check, decision); r.status != 429 {
		t.Errorf("check key over its limit with CheckKeys = %s; want 429", r)
	}
}

// Behind a trusted proxy the address is the forwarded one; a forged
// X-Forwarded-For from anyone else changes nothing.
func TestRateLimitsBehindAProxy(t *testing.T) {
	e := newEnv(t)
	admin := e.a.key(consentd.RoleAdmin)
	e.api.SetLimits(api.Limits{PerIP: rate.Every(1e12), IPBurst: 2, Entries: 100})
	// Not trusted: the loopback connection is the client, whatever it says.
	untrusted, _ := clientip.Parse("10.0.0.0/8")
	e.api.ClientIP = untrusted.IP
	forwarded(t, e, admin, "203.0.113.1")
	forwarded(t, e, admin, "203.0.113.2")
	if r := e.do("GET", "/v1/purposes", admin, nil, "X-Forwarded-For", "203.0.113.3"); r.status != 429 {
		t.Errorf("a forged X-Forwarded-For from an untrusted address = %s; want 429: it must not get a fresh bucket", r)
	}
	// Trusted loopback: each forwarded client has its own bucket.
	trusted, _ := clientip.Parse("127.0.0.1, ::1")
	e.api.SetLimits(api.Limits{PerIP: rate.Every(1e12), IPBurst: 2, Entries: 100})
	e.api.ClientIP = trusted.IP
	for _, ip := range []string{"203.0.113.1", "203.0.113.1", "203.0.113.2", "203.0.113.2"} {
		forwarded(t, e, admin, ip)
	}
	if r := e.do("GET", "/v1/purposes", admin, nil, "X-Forwarded-For", "203.0.113.1"); r.status != 429 {
		t.Errorf("a forwarded client over its limit = %s; want 429", r)
	}
}

// No API answer may be cached or sniffed: not the one that shows a new
// key's secret, not an error, not a list.
func TestNoStoreNoSniff(t *testing.T) {
	e := newEnv(t)
	admin := e.a.key(consentd.RoleAdmin)
	for _, r := range []*response{
		e.do("POST", "/v1/keys", admin, `{"role":"read","name":"reader"}`),
		e.do("GET", "/v1/purposes", admin, nil),
		e.do("GET", "/v1/purposes", "", nil),
		e.do("GET", "/v1/nothing", admin, nil),
		e.do("GET", "/openapi.json", "", nil),
	} {
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s = %d with Cache-Control %q, X-Content-Type-Options %q; want no-store, nosniff", r.method, r.path, r.status,
				r.header.Get("Cache-Control"), r.header.Get("X-Content-Type-Options"))
		}
	}
}

// forwarded sends GET /v1/purposes as forwarded for ip and wants 200.
func forwarded(t *testing.T, e *env, key, ip string) {
	t.Helper()
	if r := e.do("GET", "/v1/purposes", key, nil, "X-Forwarded-For", ip); r.status != http.StatusOK {
		t.Fatalf("GET /v1/purposes forwarded for %s = %s; want 200", ip, r)
	}
}
