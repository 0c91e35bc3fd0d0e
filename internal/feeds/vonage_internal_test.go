package feeds

import "testing"

// TestVonageSignatureVector checks the md5hash method against the value
// Vonage's Python library's tests give for these parameters and secret.
func TestVonageSignatureVector(t *testing.T) {
	params := map[string]string{"a": "1", "b": "2", "timestamp": "1461605396", "sig": "ignored"}
	if got, want := vonageSignature("md5hash", "secret", params), "6af838ef94998832dbfc29020b564830"; got != want {
		t.Errorf("md5hash = %s; want %s", got, want)
	}
}
