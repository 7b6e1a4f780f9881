package ui

import (
	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// adminPortalDocs describes the admin API's people, voicemail and system
// routes for the OpenAPI document.
var adminPortalDocs = map[string]routeDoc{
	"GET /admin/extensions": {Summary: "Extensions with their registered device counts (never their secrets)", Tag: "admin", Response: []adminExtension{}},
	"POST /admin/extensions": {Summary: "Add an extension (as ext add): an empty secret or PIN is generated and returned once; " +
		"400 names the field at fault, 409 if the number is taken", Tag: "admin", Body: extensionRequest{}, Response: extensionSaved{}},
	"GET /admin/extensions/{number}": {Summary: "One extension with its registered devices", Tag: "admin", Response: adminExtensionDetail{}},
	"PUT /admin/extensions/{number}": {Summary: "Change an extension (as ext set); absent fields stay; a new secret (given, or new_secret to generate one) " +
		"logs out its phones; turning voicemail on may create its box and return its PIN once", Tag: "admin", Body: extensionRequest{}, Response: extensionSaved{}},
	"DELETE /admin/extensions/{number}": {Summary: "Remove an extension and its registrations", Tag: "admin"},

	"GET /admin/users": {Summary: "Web users (never their password hashes)", Tag: "admin", Response: []adminUser{}},
	"POST /admin/users": {Summary: "Add a user; an empty password is generated and returned once, and the user must change it", Tag: "admin",
		Body: userRequest{}, Response: userSaved{}},
	"GET /admin/users/{id}": {Summary: "One user", Tag: "admin", Response: adminUser{}},
	"PUT /admin/users/{id}": {Summary: "Change a user's email, admin role, linked extension (\"\" unlinks) or password; the last admin stays one",
		Tag: "admin", Body: userRequest{}, Response: adminUser{}},
	"DELETE /admin/users/{id}": {Summary: "Remove a user (not yourself, not the last admin); their messages become unassigned", Tag: "admin"},
	"POST /admin/users/{id}/reset-password": {Summary: "Set a new password (generated and returned once when none is given): " +
		"the user must change it, their sessions end and a login lockout is lifted", Tag: "admin", Body: resetRequest{}, Response: userSaved{}},
	"POST /admin/users/{id}/unlock":     {Summary: "Lift a user's login lockout", Tag: "admin", Response: adminUser{}},
	"POST /admin/users/{id}/logout-all": {Summary: "End every session of a user", Tag: "admin", Response: map[string]int{}},

	"GET /admin/boxes": {Summary: "Voicemail boxes with their new and saved message counts", Tag: "admin", Response: []adminBox{}},
	"POST /admin/boxes": {Summary: "Add a shared box (as vm add), with members at one access level", Tag: "admin",
		Body: boxRequest{}, Response: adminBox{}},
	"GET /admin/boxes/{number}": {Summary: "One box with its members, inbox settings and everyone who may work it", Tag: "admin", Response: adminBoxDetail{}},
	"PUT /admin/boxes/{number}": {Summary: "Change a box (as vm set); absent fields stay, an empty pin keeps the PIN", Tag: "admin",
		Body: boxRequest{}, Response: adminBox{}},
	"DELETE /admin/boxes/{number}":               {Summary: "Remove a shared box and its messages (audio included)", Tag: "admin"},
	"PUT /admin/boxes/{number}/members":          {Summary: "Add extensions to a shared box or change their access and lamp", Tag: "admin", Body: memberRequest{}, Response: adminBox{}},
	"DELETE /admin/boxes/{number}/members/{ext}": {Summary: "Remove an extension from a shared box", Tag: "admin", Response: adminBox{}},
	"GET /admin/boxes/{number}/users":            {Summary: "Everyone who may work the box, directly or through their extension, with their access", Tag: "admin", Response: []store.BoxUser{}},
	"PUT /admin/boxes/{number}/users":            {Summary: "Give a user direct access to the box (access none removes it)", Tag: "admin", Body: boxUserRequest{}, Response: []store.BoxUser{}},
	"DELETE /admin/boxes/{number}/users/{id}":    {Summary: "Remove a user's direct access to the box", Tag: "admin", Response: []store.BoxUser{}},
	"POST /admin/boxes/{number}/pin": {Summary: "Set the box's PIN (4 to 10 digits), or generate one (returned once) when none is given; lifts a PIN lockout",
		Tag: "admin", Body: pinRequest{}, Response: map[string]any{}},
	"GET /admin/boxes/{number}/greeting": {Summary: "The box's own greeting (audio/wav); 404 while the default is used", Tag: "admin"},
	"PUT /admin/boxes/{number}/greeting": {Summary: "Upload a greeting: multipart form field file, a PCM WAV of 0.5 to 120 s, at most 10 MB (stored as 8 kHz)",
		Tag: "admin", Response: map[string]float64{}},
	"POST /admin/boxes/{number}/greeting/say": {Summary: "Speak text with espeak-ng and use it as the greeting", Tag: "admin", Body: sayRequest{}, Response: map[string]float64{}},
	"DELETE /admin/boxes/{number}/greeting":   {Summary: "Go back to the default greeting", Tag: "admin"},
	"GET /admin/boxes/{number}/inbox":         {Summary: "The box's team-inbox settings", Tag: "admin", Response: store.InboxSettings{}},
	"PUT /admin/boxes/{number}/inbox": {Summary: "Set the conversation window, auto-assignment (none, round-robin, rota with a weekday (0 = Sunday) to user id map), " +
		"open limit, done on callback and trash days", Tag: "admin", Body: store.InboxSettings{}, Response: store.InboxSettings{}},

	"GET /admin/smtp": {Summary: "Mail server settings (as smtp show); the password only as set or unset", Tag: "admin", Response: smtpView{}},
	"PUT /admin/smtp": {Summary: "Change the mail server (as smtp set): absent fields stay, an empty password keeps the stored one; waiting mails are retried",
		Tag: "admin", Body: smtpRequest{}, Response: smtpView{}},
	"POST /admin/smtp/test": {Summary: "Send a test mail now with the saved settings; 502 says why it failed", Tag: "admin", Body: smtpTestRequest{}, Response: map[string]string{}},

	"GET /admin/status": {Summary: "Version, uptime, disk, database size, transcription engine, model and queue, message and outbox counts",
		Tag: "admin", Response: adminStatusView{}},
	"GET /admin/devices": {Summary: "Registered devices (extension, contact, transport, source, user agent, expiry)", Tag: "admin", Response: []store.Binding{}},
	"GET /admin/calls":   {Summary: "Calls in progress (not ended, started in the last 12 hours)", Tag: "admin", Response: []store.Call{}},
	"GET /admin/backup":  {Summary: "Download a backup of the data directory (tar.gz, as frontdesk backup; restore with frontdesk restore); audited", Tag: "admin"},

	"GET /admin/blocked": {Summary: "SIP sources blocked for failed logins, unknown users or malformed requests (their requests are dropped unanswered until blocked_until)",
		Tag: "admin", Response: []pbx.BlockedSource{}},
	"DELETE /admin/blocked/{ip}": {Summary: "Lift the block on a SIP source at once (audited as sip.unblocked); 404 when it isn't blocked", Tag: "admin"},
}

// openapi_routes.go merges adminDocs into apiDocs; these entries are added
// to both once at start-up (apiDocs is built before init runs).
