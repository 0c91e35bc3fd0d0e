package console

import (
	"net"
	"net/http"
	"strconv"

	"github.com/consentd/consentd"
)

type signinPage struct{ Error string }

// landing is where sign-in sends an operator, and /admin/ once signed in:
// the overview.
const landing = "/admin/overview"

// home is the sign-in form, or once signed in, a redirect to the landing
// screen.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		s.render(w, r, http.StatusOK, "signin", nil, signinPage{})
		return
	}
	if _, ok := s.sessions.get(c.Value, s.Now()); !ok {
		s.render(w, r, http.StatusOK, "signin", nil, signinPage{})
		return
	}
	if _, _, ok := s.signedIn(w, r); !ok {
		return
	}
	http.Redirect(w, r, landing, http.StatusSeeOther)
}

// signIn checks a posted API key the way the API does (the store's
// Authenticate) and starts a session. The key travels only in the body and
// is never stored: the session keeps its id, workspace and role.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.render(w, r, http.StatusBadRequest, "signin", nil, signinPage{Error: "The form could not be read."})
		return
	}
	// Failed sign-ins are limited per client address (signInBurst, then
	// one every few seconds); a good key is never held back by them.
	ip := s.clientIP(r)
	if wait := s.signIns.Wait(ip, s.Now()); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.render(w, r, http.StatusTooManyRequests, "signin", nil, signinPage{Error: "Too many failed sign-ins from your address. Wait a few seconds and try again."})
		return
	}
	secret := r.PostForm.Get("key")
	if secret == "" {
		s.render(w, r, http.StatusUnauthorized, "signin", nil, signinPage{Error: "Enter an API key."})
		return
	}
	k, err := s.DB.Authenticate(r.Context(), secret)
	switch consentd.ErrorCode(err) {
	case "":
	case consentd.EUNAUTHORIZED, consentd.ENOTFOUND:
		s.signIns.Take(ip, s.Now())
		s.render(w, r, http.StatusUnauthorized, "signin", nil, signinPage{Error: "That API key is not valid."})
		return
	default:
		s.fail(w, r, nil, err)
		return
	}
	if !hasRole(readers, k.Role) {
		s.render(w, r, http.StatusForbidden, "signin", nil, signinPage{Error: "A " + string(k.Role) + " key cannot sign in to the console: use a read, agent, write or admin key."})
		return
	}
	if c, err := r.Cookie(cookieName); err == nil {
		s.sessions.end(c.Value) // signing in again replaces the session
	}
	v, ok := s.sessions.create(k, s.Now())
	if !ok {
		s.render(w, r, http.StatusServiceUnavailable, "signin", nil, signinPage{Error: "Too many people are signed in. Try again later."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: v.id, Path: "/admin/", Expires: v.expires, MaxAge: int(SessionTTL.Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, landing, http.StatusSeeOther)
}

// signOut ends the session and clears its cookie.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	v, op, ok := s.signedIn(w, r)
	if !ok || !s.postForm(w, r, v, op) {
		return
	}
	s.sessions.end(v.id)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/admin/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

// clientIP is the request's client address: ClientIP's answer, else the
// connection's.
func (s *Server) clientIP(r *http.Request) string {
	if s.ClientIP != nil {
		return s.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
