package ui

import (
	"github.com/frontdesk-pbx/frontdesk/store"
)

// routingDocs describes the routing admin's routes for the OpenAPI document
// (merged into apiDocs), kept beside the code they describe.
var routingDocs = map[string]routeDoc{
	"GET /admin/routing/options": {Summary: "What the routing forms offer: extensions, destinations, schedules, trunks, music files, dial classes", Tag: "routing", Response: routingOptions{}},

	"GET /admin/groups":             {Summary: "List ring groups", Tag: "routing", Response: []store.RingGroup{}},
	"GET /admin/groups/{number}":    {Summary: "A ring group", Tag: "routing", Response: store.RingGroup{}},
	"POST /admin/groups":            {Summary: "Add a ring group (strategy all or order; 400 with fields on bad input, 409 when the number is taken)", Tag: "routing", Body: store.RingGroup{}, Response: store.RingGroup{}},
	"PUT /admin/groups/{number}":    {Summary: "Change a ring group (fields left out keep their value)", Tag: "routing", Body: store.RingGroup{}, Response: store.RingGroup{}},
	"DELETE /admin/groups/{number}": {Summary: "Remove a ring group", Tag: "routing"},

	"GET /admin/queues":             {Summary: "List call queues with their members and who is logged in", Tag: "routing", Response: []store.Queue{}},
	"GET /admin/queues/{number}":    {Summary: "A call queue", Tag: "routing", Response: store.Queue{}},
	"POST /admin/queues":            {Summary: "Add a call queue (members as extension numbers)", Tag: "routing", Body: queueInput{}, Response: store.Queue{}},
	"PUT /admin/queues/{number}":    {Summary: "Change a call queue (fields left out keep their value)", Tag: "routing", Body: queueInput{}, Response: store.Queue{}},
	"DELETE /admin/queues/{number}": {Summary: "Remove a call queue", Tag: "routing"},
	"GET /admin/music":              {Summary: "List the music-on-hold files queues may use", Tag: "routing", Response: []string{}},
	"POST /admin/music":             {Summary: "Upload a WAV as music on hold (multipart field file)", Tag: "routing", Response: map[string]string{}},

	"GET /admin/attendants":                    {Summary: "List auto attendants", Tag: "routing", Response: []store.Attendant{}},
	"GET /admin/attendants/{number}":           {Summary: "An auto attendant", Tag: "routing", Response: store.Attendant{}},
	"POST /admin/attendants":                   {Summary: "Add an auto attendant (options: key to destination, dial-by-extension or repeat; greeting_text is spoken by espeak-ng)", Tag: "routing", Body: attendantInput{}, Response: store.Attendant{}},
	"PUT /admin/attendants/{number}":           {Summary: "Change an auto attendant (options given replace them all)", Tag: "routing", Body: attendantInput{}, Response: store.Attendant{}},
	"DELETE /admin/attendants/{number}":        {Summary: "Remove an auto attendant", Tag: "routing"},
	"GET /admin/attendants/{number}/greeting":  {Summary: "Play an attendant's greeting (audio/wav; which=greeting or after_hours)", Tag: "routing", Query: []string{"which"}},
	"POST /admin/attendants/{number}/greeting": {Summary: "Upload an attendant's greeting WAV (multipart fields file and which=greeting or after_hours)", Tag: "routing", Response: store.Attendant{}},

	"GET /admin/schedules":           {Summary: "List business-hours schedules (hours also as hours_spec lines)", Tag: "routing", Response: []scheduleView{}},
	"GET /admin/schedules/{name}":    {Summary: "A schedule", Tag: "routing", Response: scheduleView{}},
	"POST /admin/schedules":          {Summary: "Add a schedule (hours as [{weekday, opens, closes}] or hours_spec [\"mon-fri 09:00-17:00\"])", Tag: "routing", Body: scheduleView{}, Response: scheduleView{}},
	"PUT /admin/schedules/{name}":    {Summary: "Change a schedule", Tag: "routing", Body: scheduleView{}, Response: scheduleView{}},
	"DELETE /admin/schedules/{name}": {Summary: "Remove a schedule (what uses it is then always open)", Tag: "routing"},

	"GET /admin/trunks":           {Summary: "List trunks with their registration state (never the password)", Tag: "routing", Response: []trunkView{}},
	"GET /admin/trunks/{name}":    {Summary: "A trunk", Tag: "routing", Response: trunkView{}},
	"POST /admin/trunks":          {Summary: "Add a trunk (mode register or peer)", Tag: "routing", Body: trunkInput{}, Response: trunkView{}},
	"PUT /admin/trunks/{name}":    {Summary: "Change a trunk (an empty password keeps the current one)", Tag: "routing", Body: trunkInput{}, Response: trunkView{}},
	"DELETE /admin/trunks/{name}": {Summary: "Remove a trunk and the dial rules that use it", Tag: "routing"},

	"GET /admin/numbers":             {Summary: "List inbound numbers", Tag: "routing", Response: []store.InboundNumber{}},
	"GET /admin/numbers/{number}":    {Summary: "An inbound number", Tag: "routing", Response: store.InboundNumber{}},
	"POST /admin/numbers":            {Summary: "Send an inbound number to a destination (409 if it is routed already)", Tag: "routing", Body: store.InboundNumber{}, Response: store.InboundNumber{}},
	"PUT /admin/numbers/{number}":    {Summary: "Change where an inbound number goes", Tag: "routing", Body: store.InboundNumber{}, Response: store.InboundNumber{}},
	"DELETE /admin/numbers/{number}": {Summary: "Remove an inbound number", Tag: "routing"},

	"GET /admin/dialrules":             {Summary: "List outbound dial rules, in the order they are tried", Tag: "routing", Response: []store.DialRule{}},
	"GET /admin/dialrules/{prefix}":    {Summary: "A dial rule (prefix \"any\" is the rule for any number)", Tag: "routing", Response: store.DialRule{}},
	"POST /admin/dialrules":            {Summary: "Add a dial rule (class local, national, international or emergency)", Tag: "routing", Body: store.DialRule{}, Response: store.DialRule{}},
	"PUT /admin/dialrules/{prefix}":    {Summary: "Change a dial rule", Tag: "routing", Body: store.DialRule{}, Response: store.DialRule{}},
	"DELETE /admin/dialrules/{prefix}": {Summary: "Remove a dial rule", Tag: "routing"},
}
