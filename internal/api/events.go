package api

// EventStore is what webhooks need of a backend (issue 5).
type EventStore interface{}

// eventRoutes are webhooks and their deliveries.
func (s *Server) eventRoutes() []route { return nil }
