package api

// inboundRoutes are SMS replies, agent opt-out and data-subject requests.
func (s *Server) inboundRoutes() []route { return nil }
