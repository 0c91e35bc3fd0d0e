package api

// linkRoutes are the signed-link routes (POST /v1/links).
func (s *Server) linkRoutes() []route { return nil }
