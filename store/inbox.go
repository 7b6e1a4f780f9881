package store

// The team inbox: who may see which box, the lists and counts, and the
// workflow actions on messages. Every action runs in one transaction with
// its audit row and publishes a Change once committed.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Access is what a user may do in a box; each level includes those below.
type Access int

// Access levels.
const (
	AccessNone Access = iota
	AccessListen
	AccessDownload
	AccessDelete
	AccessManage
)

// String names the level as the CLI and the database spell it.
func (a Access) String() string {
	if a <= AccessNone || int(a) > len(AccessLevels) {
		return "none"
	}
	return AccessLevels[a-1]
}

// ParseAccess reads a level name (listen, download, delete, manage).
func ParseAccess(s string) (Access, error) {
	for i, l := range AccessLevels {
		if l == s {
			return Access(i + 1), nil
		}
	}
	return AccessNone, fmt.Errorf("access %q: want one of listen, download, delete, manage", s)
}

// Errors of the workflow.
var (
	// ErrAssignedElsewhere: the message belongs to someone else; only an
	// admin or a manager of the box may take it over.
	ErrAssignedElsewhere = errors.New("the message is assigned to someone else")
	// ErrInTrash: the action needs a message that is not in the trash.
	ErrInTrash = errors.New("the message is in the trash")
)

// Inbox views, like an email client's folders.
const (
	ViewUnassigned = "unassigned" // open, nobody's
	ViewMine       = "mine"       // open, assigned to the user
	ViewOpen       = "open"       // every open message
	ViewDone       = "done"
	ViewTrash      = "trash"
	ViewAll        = "all" // everything but the trash
)

// Actor is who performs a workflow action.
type Actor struct {
	UserID int64
	Name   string // user name; the audit log says user:NAME
	// Manager: an admin, or a user with manage access to the message's box.
	// Only managers take over a message assigned to someone else.
	Manager bool
}

// AuditName is how the audit log names the actor.
func (a Actor) AuditName() string {
	if a.UserID == 0 && a.Name != "" {
		return a.Name // system, cli
	}
	return "user:" + a.Name
}

// InboxFilter selects messages for a list or a search. Boxes must be the
// boxes the user may see: the store does not check access.
type InboxFilter struct {
	Boxes    []string
	View     string // one of the View constants; "" means ViewAll
	UserID   int64  // whose "mine"
	Query    string // transcript or caller words (full-text)
	Caller   string // caller number, matched as a substring
	Status   string // "", open, in_progress, done
	Assignee int64  // 0: anyone; -1: unassigned; otherwise a user id
	From, To time.Time
	// Paging: newest first; pass the last row's StartedAt and ID to get the next page.
	BeforeTime time.Time
	BeforeID   int64
	Limit      int // default 50, at most 500
}

// InboxItem is one row of an inbox list.
type InboxItem struct {
	Message
	AssigneeName     string `json:"assignee_name,omitempty"`
	FirstLine        string `json:"first_line"`        // the transcript's first line, or why there is none
	Snippet          string `json:"snippet,omitempty"` // search: matching words in [brackets]
	ConversationSize int    `json:"conversation_size"`
	TranscriptState  string `json:"transcript_state"` // the transcription job's state
}

// InboxCounts are one box's numbers for the view tabs.
type InboxCounts struct {
	Box        string `json:"box"`
	Unassigned int    `json:"unassigned"`
	Mine       int    `json:"mine"`
	Open       int    `json:"open"`
	Done       int    `json:"done"`
	Trash      int    `json:"trash"`
	Unplayed   int    `json:"unplayed"`
}

// InboxSettings are a box's team-inbox settings.
type InboxSettings struct {
	ConversationMinutes int    `json:"conversation_minutes"` // 0: each message stands alone
	AssignMode          string `json:"assign_mode"`          // none, round-robin, rota
	OpenLimitMinutes    int    `json:"open_limit_minutes"`   // 0: no overdue alerts
	DoneOnCallback      bool   `json:"done_on_callback"`
	TrashDays           int    `json:"trash_days"`
	// Rota maps a weekday (0 = Sunday) to the user on duty.
	Rota map[int]int64 `json:"rota,omitempty"`
}

// BoxUser is a user's direct access to a box.
type BoxUser struct {
	UserID int64  `json:"user_id"`
	Name   string `json:"name"`
	Access string `json:"access"`
}

// TimelineEntry is one event on a message's timeline (an audit row).
type TimelineEntry = AuditEntry

// ErrNotImplemented marks parts of the inbox still being written.
var ErrNotImplemented = errors.New("not implemented yet")

// InboxAccess returns the boxes u may see and at which level: every box at
// manage for an admin; otherwise the higher of direct access (box_users) and
// membership through u's linked extension, and manage on the personal box of
// that extension.
func (s *Store) InboxAccess(ctx context.Context, u User) (map[string]Access, error) {
	return nil, ErrNotImplemented
}

// Inbox lists messages by f, newest first.
func (s *Store) Inbox(ctx context.Context, f InboxFilter) ([]InboxItem, error) {
	return nil, ErrNotImplemented
}

// InboxCounts counts each box's views for userID (trash included).
func (s *Store) InboxCounts(ctx context.Context, boxes []string, userID int64) (map[string]InboxCounts, error) {
	return nil, ErrNotImplemented
}

// Conversation lists the messages of a conversation (trash excluded), oldest first.
func (s *Store) Conversation(ctx context.Context, conversation int64) ([]Message, error) {
	return nil, ErrNotImplemented
}

// CallerHistory lists earlier messages (in boxes) and calls from number, newest first.
func (s *Store) CallerHistory(ctx context.Context, number string, boxes []string, limit int) ([]Message, []Call, error) {
	return nil, nil, ErrNotImplemented
}

// Timeline returns the audit rows of a message's conversation, oldest first.
func (s *Store) Timeline(ctx context.Context, messageID int64) ([]TimelineEntry, error) {
	return nil, ErrNotImplemented
}

// Claim assigns the message (its whole conversation) to the actor.
func (s *Store) Claim(ctx context.Context, a Actor, id int64) (Message, error) {
	return Message{}, ErrNotImplemented
}

// Assign assigns the message's conversation to userID; 0 returns it to the inbox.
func (s *Store) Assign(ctx context.Context, a Actor, id, userID int64) (Message, error) {
	return Message{}, ErrNotImplemented
}

// Transfer moves the message's conversation to another box, unassigned.
func (s *Store) Transfer(ctx context.Context, a Actor, id int64, box string) (Message, error) {
	return Message{}, ErrNotImplemented
}

// MarkInProgress marks the conversation in progress (open).
func (s *Store) MarkInProgress(ctx context.Context, a Actor, id int64) (Message, error) {
	return Message{}, ErrNotImplemented
}

// MarkDone marks the conversation done with an optional note.
func (s *Store) MarkDone(ctx context.Context, a Actor, id int64, note string) (Message, error) {
	return Message{}, ErrNotImplemented
}

// Reopen marks a done conversation open again.
func (s *Store) Reopen(ctx context.Context, a Actor, id int64) (Message, error) {
	return Message{}, ErrNotImplemented
}

// AddNote writes a note on the message's timeline.
func (s *Store) AddNote(ctx context.Context, a Actor, id int64, note string) error {
	return ErrNotImplemented
}

// MarkPlayed sets the played state (the same one *56 and the lamps use).
func (s *Store) MarkPlayed(ctx context.Context, a Actor, id int64, played bool) (Message, error) {
	return Message{}, ErrNotImplemented
}

// Trash moves a message to the trash.
func (s *Store) Trash(ctx context.Context, a Actor, id int64) (Message, error) {
	return Message{}, ErrNotImplemented
}

// Untrash takes a message out of the trash.
func (s *Store) Untrash(ctx context.Context, a Actor, id int64) (Message, error) {
	return Message{}, ErrNotImplemented
}

// Purge deletes a message in the trash for good and returns its audio file
// name for the caller to remove.
func (s *Store) Purge(ctx context.Context, a Actor, id int64) (string, error) {
	return "", ErrNotImplemented
}

// PurgeExpired purges messages that have been in the trash longer than their
// box's trash_days, audited as the system, and returns their audio file names.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) ([]string, error) {
	return nil, ErrNotImplemented
}

// LogAction writes an audit row for an action the store does not perform
// itself (download, forward by email, call back) and publishes it.
func (s *Store) LogAction(ctx context.Context, a Actor, action string, id int64, detail string) error {
	return ErrNotImplemented
}

// SetInboxSettings stores a box's inbox settings (rota included).
func (s *Store) SetInboxSettings(ctx context.Context, box string, st InboxSettings) error {
	return ErrNotImplemented
}

// InboxSettingsOf reads a box's inbox settings.
func (s *Store) InboxSettingsOf(ctx context.Context, box string) (InboxSettings, error) {
	return InboxSettings{}, ErrNotImplemented
}

// SetBoxUser gives a user direct access to a box; AccessNone removes it.
func (s *Store) SetBoxUser(ctx context.Context, box string, userID int64, access Access) error {
	return ErrNotImplemented
}

// BoxUsers lists everyone who may work a box (direct or through their
// extension) with their effective access, admins excluded.
func (s *Store) BoxUsers(ctx context.Context, box string) ([]BoxUser, error) {
	return nil, ErrNotImplemented
}
