package api

// AutomationStore is what records, rules and jobs need of a backend
// (issue 5).
type AutomationStore interface{}

// automationRoutes are records, rules and jobs.
func (s *Server) automationRoutes() []route { return nil }
