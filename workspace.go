package consentd

import "time"

// Workspace isolates everything: nothing crosses workspaces.
type Workspace struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	DefaultRegion string    `json:"default_region,omitempty" doc:"ISO 3166 alpha-2, for phone numbers written without +"`
	SMSSenderName string    `json:"sms_sender_name,omitempty" doc:"the name texts go out under (double opt-in texts, keyword replies); default the workspace's name"`
	SMSHelpText   string    `json:"sms_help_text,omitempty" doc:"the reply to HELP and INFO; default: the sender's name and how to stop"`
	CreatedAt     time.Time `json:"created_at"`
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
