package api

// ImportStore is what bulk imports and exports need of a backend (issue 6).
type ImportStore interface{}

// importRoutes are bulk imports and the export.
func (s *Server) importRoutes() []route { return nil }
