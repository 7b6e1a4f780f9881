package ui

// docRoutes registers the routes for the OpenAPI document. (Being written.)
func (s *Server) docRoutes() {}
