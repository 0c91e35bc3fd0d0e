package signedlink_test

import (
	"fmt"
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

// alphabet is base64url's, the characters a token's parts are made of.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// TestEveryChangeIsRefused changes a valid token in every way a byte can
// change (each position to each other alphabet character or a dot, each
// truncation, extensions, padding, line breaks) and expects each to be
// refused: only the exact signed token verifies. Before tokens were
// decoded strictly, the MAC's last character could change in its unused
// low bits and still verify.
func TestEveryChangeIsRefused(t *testing.T) {
	k, err := signedlink.LoadOrCreate(filepath.Join(t.TempDir(), "link-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := k.Sign(signedlink.Claims{Kind: signedlink.Preferences, Workspace: "ws_1", Hash: "abc", ExpiresAt: now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Verify(tok, now); err != nil {
		t.Fatalf("Verify(valid) = %v", err)
	}
	refused := func(what, bad string) {
		t.Helper()
		if bad == tok {
			return
		}
		if _, err := k.Verify(bad, now); err != signedlink.ErrInvalid {
			t.Errorf("%s: Verify(%q) = %v; want ErrInvalid", what, bad, err)
		}
	}
	for i := 0; i < len(tok); i++ {
		for _, c := range alphabet + "." {
			refused(fmt.Sprintf("position %d to %q", i, c), tok[:i]+string(c)+tok[i+1:])
		}
		refused(fmt.Sprintf("cut to %d", i), tok[:i])
		refused(fmt.Sprintf("position %d removed", i), tok[:i]+tok[i+1:])
		for _, ins := range []string{"\n", "\r", "=", " "} {
			refused(fmt.Sprintf("%q inserted at %d", ins, i), tok[:i]+ins+tok[i:])
		}
	}
	for _, c := range alphabet + ".=" {
		refused(fmt.Sprintf("extended by %q", c), tok+string(c))
	}
	for _, pad := range []string{"=", "==", "===", "\n", "\r\n"} {
		refused(fmt.Sprintf("padding %q", pad), tok+pad)
		parts := strings.Split(tok, ".")
		refused(fmt.Sprintf("payload padding %q", pad), parts[0]+"."+parts[1]+pad+"."+parts[2])
	}
}
