package signedlink_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd/internal/signedlink"
)

func TestSignVerifyRotateExpire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "link-keys.json")
	k, err := signedlink.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	now := time.Now()
	c := signedlink.Claims{Kind: signedlink.Unsubscribe, Workspace: "ws_1", Hash: "abc", ChannelType: "news:email"}
	tok, err := k.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tok, "@") || strings.ContainsAny(tok, "/+=?&#") {
		t.Fatalf("token %q is not opaque and URL-safe", tok)
	}
	got, err := k.Verify(tok, now)
	if err != nil || got.Kind != c.Kind || got.Hash != "abc" || got.ChannelType != "news:email" {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	// Rotation: the old token still verifies, new tokens use the new key,
	// also after reloading from disk.
	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	tok2, _ := k.Sign(c)
	if strings.SplitN(tok2, ".", 2)[0] == strings.SplitN(tok, ".", 2)[0] {
		t.Fatal("after Rotate the same key still signs")
	}
	k2, err := signedlink.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range []string{tok, tok2} {
		if _, err := k2.Verify(tk, now); err != nil {
			t.Errorf("Verify after reload = %v", err)
		}
	}
	// Tampering, unknown keys, expiry: one generic error.
	other, _ := signedlink.LoadOrCreate(filepath.Join(t.TempDir(), "other.json"))
	foreign, _ := other.Sign(c)
	c.ExpiresAt = now.Add(time.Hour).Unix()
	expiring, _ := k.Sign(c)
	if _, err := k.Verify(expiring, now); err != nil {
		t.Errorf("Verify before expiry = %v", err)
	}
	parts := strings.Split(tok, ".")
	bad := []string{
		"", "x", tok + "x", parts[0] + "." + parts[1] + "A." + parts[2], parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"zzzz." + parts[1] + "." + parts[2], foreign,
	}
	for _, b := range bad {
		if _, err := k.Verify(b, now); err != signedlink.ErrInvalid {
			t.Errorf("Verify(%q) = %v; want ErrInvalid", b, err)
		}
	}
	if _, err := k.Verify(expiring, now.Add(2*time.Hour)); err != signedlink.ErrInvalid {
		t.Errorf("Verify after expiry = %v; want ErrInvalid", err)
	}
}
