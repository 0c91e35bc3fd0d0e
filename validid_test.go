package consentd

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestValidIDMatchesPattern checks the hand-written ValidID against the
// pattern it implements, on edge cases and random strings.
func TestValidIDMatchesPattern(t *testing.T) {
	re := regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	cases := []string{"", "a", "0", "_a", "-a", "a_", "a-b_c9", "A", "aB", "news:email", "news\n", "é",
		strings.Repeat("a", 64), strings.Repeat("a", 65), "a b", "a\x00"}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 100000 {
		alphabet := "az09_-A:. \n\xc3\xa9\x00"
		if n%2 == 0 {
			alphabet = "az09_-" // mostly valid
		}
		b := make([]byte, rng.IntN(70))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got, want := ValidID(s), re.MatchString(s); got != want {
			t.Fatalf("ValidID(%q) = %v; the pattern says %v", s, got, want)
		}
	}
}
