package ui

// inboxRoutes registers the routes for lists, messages, workflow actions, audio, search, audit log. (Being written.)
func (s *Server) inboxRoutes() {}
