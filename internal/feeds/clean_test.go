package feeds

import (
	"strings"
	"testing"
)

func TestCleanIDAndType(t *testing.T) {
	for _, id := range []string{"sg-1", "Bounce:4323372036854775807", strings.Repeat("a", 200)} {
		if got := cleanID(id); got != id {
			t.Errorf("cleanID(%q) = %q; want it as it is", id, got)
		}
	}
	for _, id := range []string{"", "a\x00b", "a b", strings.Repeat("a", 201), "é"} {
		if got := cleanID(id); !strings.HasPrefix(got, "sha256:") || cleanID(id) != got {
			t.Errorf("cleanID(%q) = %q; want a stable hash", id, got)
		}
	}
	if got := cleanType("Bounce/HardBounce\n<script>" + strings.Repeat("x", 100)); got != "Bounce/HardBouncescript"+strings.Repeat("x", 64-len("Bounce/HardBouncescript")) {
		t.Errorf("cleanType = %q", got)
	}
}
