package api

import (
	"encoding/json"
	"fmt"
)

// Document returns the API document that GET /openapi.json serves, as
// indented JSON ending in a newline.
func (s *Server) Document() ([]byte, error) {
	b, err := json.MarshalIndent(s.doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal the API document: %w", err)
	}
	return append(b, '\n'), nil
}
