package feeds

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/consentd/consentd"
)

// HTTP Basic credentials, for providers that sign nothing (Postmark) and
// for posters of raw reports (rfc822): consentd chooses the password when
// none is given, shows it once and stores its SHA-256, like an API key (it
// is random, so a plain hash does).

// configureBasic checks a feed's user name and password and sets its
// stored secret; it returns a generated password, or "".
func configureBasic(f *consentd.Feed) (string, error) {
	if f.PublicKey != "" {
		return "", consentd.FieldErrorf(consentd.EINVALID, "public_key", "a %s feed takes username and secret, not public_key", f.Provider)
	}
	if f.Username == "" {
		f.Username = "consentd"
	}
	if strings.ContainsAny(f.Username, ":") {
		return "", consentd.FieldErrorf(consentd.EINVALID, "username", "username may not contain ':'")
	}
	shown := ""
	switch {
	case f.Secret != "":
		if len(f.Secret) < 16 {
			return "", consentd.FieldErrorf(consentd.EINVALID, "secret", "the password must be at least 16 characters; leave it out to have one generated")
		}
	case f.StoredSecret != "":
		return "", nil // kept
	default:
		b := make([]byte, 24)
		rand.Read(b)
		f.Secret = base64.RawURLEncoding.EncodeToString(b)
		shown = f.Secret
	}
	f.StoredSecret = hashPassword(f.Secret)
	return shown, nil
}

func hashPassword(p string) string {
	h := sha256.Sum256([]byte(p))
	return "sha256:" + hex.EncodeToString(h[:])
}

// verifyBasic checks a request's Basic credentials against the feed's,
// in constant time.
func verifyBasic(f *consentd.Feed, r *Request) error {
	user, pass, ok := (&http.Request{Header: r.Header}).BasicAuth()
	if !ok {
		return fmt.Errorf("%w: no Basic credentials", ErrUnauthenticated)
	}
	u := subtle.ConstantTimeCompare([]byte(user), []byte(f.Username))
	p := subtle.ConstantTimeCompare([]byte(hashPassword(pass)), []byte(f.StoredSecret))
	if u&p != 1 {
		return fmt.Errorf("%w: bad credentials", ErrUnauthenticated)
	}
	return nil
}
