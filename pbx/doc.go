// Package pbx is Frontdesk's SIP side: the registrar that desk phones and
// softphones register with, the B2BUA that connects their calls with media
// anchored on the PBX, and (as they arrive) routing, voicemail, IVR and
// message-waiting logic.
//
// SIP transactions and dialogs come from sipgo; call legs, RTP sessions and
// bridging come from diago. Persistent state lives in package store, which
// this package reads on every request, so a change made with the CLI while the
// server runs takes effect on the next call or registration.
package pbx
