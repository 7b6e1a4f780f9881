package ui

// adminRoutes registers the routes for extensions, users, voicemail boxes, settings, status, backup. (Being written.)
func (s *Server) adminRoutes() {}
