package consentd

import "time"

// Workspace isolates everything: nothing crosses workspaces.
type Workspace struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	DefaultRegion string `json:"default_region,omitempty" doc:"ISO 3166 alpha-2, for phone numbers written without +"`
	SMSSenderName string `json:"sms_sender_name,omitempty" doc:"the name texts go out under (double opt-in texts, keyword replies); default the workspace's name"`
	SMSHelpText   string `json:"sms_help_text,omitempty" doc:"the reply to HELP and INFO; default: the sender's name and how to stop"`
	Brand
	CreatedAt time.Time `json:"created_at"`
}

// Brand is how a workspace presents itself to people: on the public pages
// (unsubscribe, preferences, record, confirmation), in the confirmation
// mail and in texts.
type Brand struct {
	SenderName      string `json:"sender_name,omitempty" max:"200" doc:"who asks and who sends, as people know the sender (\"Example GmbH\"): pages and mails name it; default the workspace's name"`
	DefaultLanguage string `json:"default_language,omitempty" doc:"a shipped language (en, de, fr, es, ar) for people whose language is not known otherwise; default en"`
	AccentColor     string `json:"accent_color,omitempty" doc:"#rrggbb, the colour of buttons and links; refused unless it has a contrast of at least 4.5:1 with the white background (WCAG AA)"`
	PrivacyURL      string `json:"privacy_url,omitempty" max:"2048" doc:"the privacy policy, linked from every page and mail (https or http URL)"`
	Footer          string `json:"footer,omitempty" max:"1000" doc:"a line under every page and mail: the sender's address, registration"`
	PublicURL       string `json:"public_url,omitempty" max:"2048" doc:"the workspace's own public base URL (its own domain) for the links in mails and texts; default the server's"`
	// Texts overrides the shipped texts: language → text key → text.
	Texts map[string]map[string]string `json:"texts,omitempty" doc:"overrides of shipped texts: language → key → text; keys are listed by GET /v1/texts"`
	Logo  *Logo                        `json:"logo,omitempty" doc:"the uploaded logo (PUT /v1/workspace/logo), served by consentd"`
}

// Logo describes a workspace's uploaded logo. The image itself is served
// by consentd at URL, never hotlinked.
type Logo struct {
	ContentType string `json:"content_type" enum:"image/png,image/jpeg,image/gif,image/webp"`
	Size        int    `json:"size" doc:"bytes"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	SHA256      string `json:"sha256" doc:"hex"`
	URL         string `json:"url" doc:"path of the image on this server, changing with its content"`
}

// DefaultWorkspace is the name of the workspace `serve` creates on an empty
// data folder.
const DefaultWorkspace = "default"

// Role is what an API key may do.
type Role string

// Roles.
const (
	RoleAdmin Role = "admin" // everything
	RoleWrite Role = "write" // consents, imports, records, parties, plus read
	RoleCheck Role = "check" // decisions only: for send pipelines
	RoleRead  Role = "read"  // read everything but keys
	RoleAgent Role = "agent" // read plus opt-out actions
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleWrite, RoleCheck, RoleRead, RoleAgent:
		return true
	}
	return false
}

// APIKey is a key's metadata; the secret is only ever shown once and stored
// hashed.
type APIKey struct {
	ID          string     `json:"id"`
	WorkspaceID string     `json:"workspace_id"`
	Role        Role       `json:"role" enum:"admin,write,check,read,agent"`
	Name        string     `json:"name,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
}
