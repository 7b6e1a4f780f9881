package ui

// routingRoutes registers the routes for ring groups, queues, attendants, schedules, trunks, numbers, dial rules. (Being written.)
func (s *Server) routingRoutes() {}
