package ui

import "maps"

// apiDocs describes every /api/v1 route, keyed "METHOD /path/{param}".
// TestOpenAPICoversEveryRoute fails when a served route is missing here or
// an entry names a route that isn't served. Each area's descriptions live
// beside its handlers and are merged here.
var apiDocs = mergeDocs(coreDocs, authDocs, inboxDocs, notifyAPIDocs, adminPortalDocs, routingDocs)

func mergeDocs(parts ...map[string]routeDoc) map[string]routeDoc {
	out := map[string]routeDoc{}
	for _, p := range parts {
		maps.Copy(out, p)
	}
	return out
}

var coreDocs = map[string]routeDoc{
	"GET /openapi.json":   {Summary: "This document", Tag: "meta", Public: true},
	"POST /click-to-call": {Summary: "Ring your desk phone, then call a number from it", Tag: "calls", Body: clickToCallRequest{}, Response: map[string]int64{}},
	"GET /events": {Summary: "Server-sent events: inbox changes (event change, data a Change) for the inboxes you can see, " +
		"and who else views a message (event presence, with ?viewing=ID)", Tag: "inbox", Query: []string{"viewing"}},
	"GET /admin/metrics": {Summary: "Prometheus metrics (text format): registrations, calls, deposits, RTP loss, transcription queue, HTTP latency", Tag: "admin"},
}

var authDocs = map[string]routeDoc{
	"GET /me":                  {Summary: "You, and the CSRF token to send as X-CSRF-Token on changes", Tag: "account", Response: meResponse{}},
	"POST /me/password":        {Summary: "Change your password (at least 10 characters); logs out your other sessions", Tag: "account", Body: passwordRequest{}, Response: meResponse{}},
	"POST /me/logout-all":      {Summary: "Log out everywhere else: end all your sessions but this one", Tag: "account", Response: map[string]int{}},
	"GET /me/sessions":         {Summary: "Your open sessions (browser, address, last seen)", Tag: "account", Response: []sessionView{}},
	"DELETE /me/sessions/{id}": {Summary: "End one of your sessions", Tag: "account"},
}

var inboxDocs = map[string]routeDoc{
	"GET /inboxes": {Summary: "The inboxes you can work, your personal box first, with the counts of each view", Tag: "inbox", Response: []inboxJSON{}},
	"GET /messages": {Summary: "List messages newest first: a view (unassigned, mine, open, done, trash, all) and filters; " +
		"q searches transcripts and callers, matches in [brackets] in snippet; page on with next", Tag: "inbox",
		Query: []string{"box", "view", "q", "caller", "status", "assignee", "from", "to", "before_time", "before_id", "limit"}, Response: messagePage{}},
	"GET /messages/{id}": {Summary: "A message: transcript by segment, conversation, timeline, caller history and what you may do", Tag: "inbox", Response: messageDetailJSON{}},
	"GET /messages/{id}/audio": {Summary: "The recording (audio/wav, HTTP range requests); ?download=1 as an attachment (needs download access; audited); 410 once retention deleted it",
		Tag: "inbox", Query: []string{"download"}},
	"POST /messages/{id}/claim":    {Summary: "Assign the message (its conversation) to yourself; 409 if it is someone else's and you don't manage the inbox", Tag: "inbox", Response: messageDetailJSON{}},
	"POST /messages/{id}/assign":   {Summary: "Assign to a teammate (user_id from /boxes/{box}/assignees)", Tag: "inbox", Body: assignRequest{}, Response: messageDetailJSON{}},
	"POST /messages/{id}/return":   {Summary: "Return to the inbox, unassigned", Tag: "inbox", Response: messageDetailJSON{}},
	"POST /messages/{id}/progress": {Summary: "Mark in progress", Tag: "inbox", Response: messageDetailJSON{}},
	"POST /messages/{id}/done":     {Summary: "Mark done, with an optional note", Tag: "inbox", Body: doneRequest{}, Response: messageDetailJSON{}},
	"POST /messages/{id}/reopen":   {Summary: "Reopen a done message", Tag: "inbox", Response: messageDetailJSON{}},
	"POST /messages/{id}/note":     {Summary: "Add a note to the message's timeline", Tag: "inbox", Body: noteRequest{}, Response: messageDetailJSON{}},
	"POST /messages/{id}/played":   {Summary: "Mark played or unplayed (the state *56 and the phone lamps use)", Tag: "inbox", Body: playedRequest{}, Response: messageDetailJSON{}},
	"POST /messages/{id}/transfer": {Summary: "Move the conversation to another inbox you can reach, unassigned", Tag: "inbox", Body: transferRequest{}, Response: messageDetailJSON{}},
	"POST /messages/{id}/forward":  {Summary: "Email the audio and transcript to an address (needs download access)", Tag: "inbox", Body: forwardRequest{}, Response: messageDetailJSON{}},
	"POST /messages/{id}/callback": {Summary: "Call the caller back from your desk phone (click-to-call); logged, and the message marked done when answered if the inbox says so", Tag: "inbox", Response: messageDetailJSON{}},
	"POST /messages/{id}/trash":    {Summary: "Move to the trash (needs delete access); purged after the inbox's trash days", Tag: "inbox", Response: messageDetailJSON{}},
	"POST /messages/{id}/restore":  {Summary: "Take out of the trash (needs delete access)", Tag: "inbox", Response: messageDetailJSON{}},
	"DELETE /messages/{id}":        {Summary: "Purge a message in the trash for good, audio included (needs delete access)", Tag: "inbox"},
	"GET /boxes/{box}/assignees":   {Summary: "Who a message in the inbox can be assigned to", Tag: "inbox", Response: []assigneeJSON{}},
	"GET /audit": {Summary: "The audit log, newest first, with filters; format=csv for a CSV file. Members see their inboxes' rows", Tag: "audit",
		Query: []string{"actor", "action", "box", "message_id", "from", "to", "before_id", "limit", "format"}, Response: auditPage{}},
}
