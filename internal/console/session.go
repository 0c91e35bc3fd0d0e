package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/consentd/consentd"
)

// SessionTTL is how long a sign-in lasts.
const SessionTTL = 8 * time.Hour

// maxSessions bounds the session table: past it, signing in first drops
// the expired sessions, then refuses.
const maxSessions = 10000

// session is one signed-in operator: the key they signed in with (its id,
// workspace and role, never its secret) and the CSRF token of their forms.
type session struct {
	id        string
	keyID     string
	workspace string
	role      consentd.Role
	csrf      string
	expires   time.Time
}

// sessions is the server-side session table. It is in memory: a restart
// signs everyone out, and with several replicas behind a balancer a
// session only works on the replica that made it.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}} }

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for k; ok is false when the table is full.
func (s *sessions) create(k *consentd.APIKey, now time.Time) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		for id, v := range s.m {
			if !now.Before(v.expires) {
				delete(s.m, id)
			}
		}
		if len(s.m) >= maxSessions {
			return nil, false
		}
	}
	v := &session{id: randomToken(), keyID: k.ID, workspace: k.WorkspaceID, role: k.Role, csrf: randomToken(), expires: now.Add(SessionTTL)}
	s.m[v.id] = v
	return v, true
}

// get returns the live session id names; an expired one is dropped.
func (s *sessions) get(id string, now time.Time) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[id]
	if !ok {
		return nil, false
	}
	if !now.Before(v.expires) {
		delete(s.m, id)
		return nil, false
	}
	return v, true
}

// end drops a session.
func (s *sessions) end(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// checkCSRF reports whether a form's token is the session's, in constant
// time.
func (v *session) checkCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(v.csrf)) == 1
}
