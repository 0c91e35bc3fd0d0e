package consentd

import (
	"strings"
	"testing"
)

// TestDescriptionChecked: a purpose's and a topic's description is
// optional, storable text of at most MaxDescriptionLen bytes.
func TestDescriptionChecked(t *testing.T) {
	for _, tc := range []struct {
		name, desc string
		ok         bool
	}{
		{"none", "", true},
		{"a sentence", "News about our products, once a month.", true},
		{"at the limit", strings.Repeat("a", MaxDescriptionLen), true},
		{"too long", strings.Repeat("a", MaxDescriptionLen+1), false},
		{"NUL", "news\x00", false},
		{"invalid UTF-8", "news\xff", false},
	} {
		p := &Purpose{ID: "news", Name: "News", Description: tc.desc, Type: Commercial, Channels: map[string]ChannelSetting{"email": {}}}
		p.Normalize()
		err := p.Validate()
		if (err == nil) != tc.ok || (err != nil && err.(*Error).Fields[0].Field != "description") {
			t.Errorf("purpose, %s: Validate() = %v; want ok %v", tc.name, err, tc.ok)
		}
		tp := &Topic{ID: "weekly", Purpose: "news", Name: "Weekly", Description: tc.desc}
		err = tp.Validate()
		if (err == nil) != tc.ok || (err != nil && err.(*Error).Fields[0].Field != "description") {
			t.Errorf("topic, %s: Validate() = %v; want ok %v", tc.name, err, tc.ok)
		}
	}
}
