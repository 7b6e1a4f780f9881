package ui

// liveRoutes registers the routes for server-sent events and presence. (Being written.)
func (s *Server) liveRoutes() {}
