package ui

// notifyRoutes registers the routes for notification rules. (Being written.)
func (s *Server) notifyRoutes() {}
