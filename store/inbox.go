package store

// The team inbox: who may see which box, the lists and counts, and the
// workflow actions on messages. Every action runs in one transaction with
// its audit row and publishes a Change once committed.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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

// ErrNotInTrash: restore and purge need a message in the trash.
var ErrNotInTrash = errors.New("the message is not in the trash")

// ErrInvalid marks bad input; errors.Is(err, ErrInvalid) holds for a
// *FieldError, whose message says what is wrong and how to fix it.
var ErrInvalid = errors.New("invalid input")

// FieldError is bad input in one field (as the API's "fields" name it).
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// isForeignKey reports whether err is SQLite refusing a missing reference.
func isForeignKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY")
}

// dbtx is what both the writer's transactions and the pools offer, so
// helpers run inside a workflow transaction or on their own.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// InboxAccess returns the boxes u may see and at which level: every box at
// manage for an admin; otherwise the higher of direct access (box_users) and
// membership through u's linked extension, and manage on the personal box of
// that extension.
func (s *Store) InboxAccess(ctx context.Context, u User) (map[string]Access, error) {
	var rows *sql.Rows
	var err error
	if u.IsAdmin {
		rows, err = s.read.QueryContext(ctx, `SELECT number, 'manage' FROM voicemail_boxes`)
	} else {
		// An empty extension matches no member row and no owner.
		rows, err = s.read.QueryContext(ctx, `SELECT box, access FROM box_users WHERE user_id = ?1
			UNION ALL SELECT box, access FROM box_members WHERE extension = ?2 AND ?2 != ''
			UNION ALL SELECT number, 'manage' FROM voicemail_boxes WHERE owner = ?2 AND ?2 != ''`, u.ID, u.Extension)
	}
	if err != nil {
		return nil, fmt.Errorf("inbox access of %s: %w", u.Name, err)
	}
	defer rows.Close()
	out := map[string]Access{}
	for rows.Next() {
		var box, level string
		if err := rows.Scan(&box, &level); err != nil {
			return nil, fmt.Errorf("inbox access of %s: %w", u.Name, err)
		}
		if a, err := ParseAccess(level); err == nil && a > out[box] {
			out[box] = a
		}
	}
	return out, rows.Err()
}

// SetInboxSettings stores a box's inbox settings (rota included; a nil Rota
// clears it).
func (s *Store) SetInboxSettings(ctx context.Context, box string, st InboxSettings) error {
	switch st.AssignMode {
	case "none", "round-robin", "rota":
	case "":
		st.AssignMode = "none"
	default:
		return invalid("assign_mode", "assignment mode %q is unknown: use none, round-robin or rota", st.AssignMode)
	}
	if st.ConversationMinutes < 0 {
		return invalid("conversation_minutes", "the conversation window can't be negative: use 0 to keep every message apart")
	}
	if st.OpenLimitMinutes < 0 {
		return invalid("open_limit_minutes", "the open limit can't be negative: use 0 for no overdue alerts")
	}
	if st.TrashDays < 1 || st.TrashDays > 3650 {
		return invalid("trash_days", "trash retention must be 1 to 3650 days, not %d", st.TrashDays)
	}
	for wd := range st.Rota {
		if wd < 0 || wd > 6 {
			return invalid("rota", "rota weekday %d is not 0 (Sunday) to 6 (Saturday)", wd)
		}
	}
	return s.inTx(ctx, "set inbox settings of box "+box, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE voicemail_boxes SET conversation_minutes = ?, assign_mode = ?, open_limit_minutes = ?,
			done_on_callback = ?, trash_days = ?, updated_at = ? WHERE number = ?`,
			st.ConversationMinutes, st.AssignMode, st.OpenLimitMinutes, st.DoneOnCallback, st.TrashDays, time.Now().Unix(), box)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("voicemail box %s: %w", box, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM box_rota WHERE box = ?`, box); err != nil {
			return err
		}
		for wd, uid := range st.Rota {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE id = ?`, uid).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return invalid("rota", "the rota's user %d for weekday %d doesn't exist", uid, wd)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO box_rota(box, weekday, user_id) VALUES (?, ?, ?)`, box, wd, uid); err != nil {
				return err
			}
		}
		return nil
	})
}

// InboxSettingsOf reads a box's inbox settings.
func (s *Store) InboxSettingsOf(ctx context.Context, box string) (InboxSettings, error) {
	var st InboxSettings
	err := s.read.QueryRowContext(ctx, `SELECT conversation_minutes, assign_mode, open_limit_minutes, done_on_callback, trash_days
		FROM voicemail_boxes WHERE number = ?`, box).Scan(&st.ConversationMinutes, &st.AssignMode, &st.OpenLimitMinutes, &st.DoneOnCallback, &st.TrashDays)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("voicemail box %s: %w", box, ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("read inbox settings of box %s: %w", box, err)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT weekday, user_id FROM box_rota WHERE box = ? ORDER BY weekday`, box)
	if err != nil {
		return st, fmt.Errorf("read rota of box %s: %w", box, err)
	}
	defer rows.Close()
	for rows.Next() {
		var wd int
		var uid int64
		if err := rows.Scan(&wd, &uid); err != nil {
			return st, fmt.Errorf("read rota of box %s: %w", box, err)
		}
		if st.Rota == nil {
			st.Rota = map[int]int64{}
		}
		st.Rota[wd] = uid
	}
	return st, rows.Err()
}

// SetBoxUser gives a user direct access to a box; AccessNone removes it.
func (s *Store) SetBoxUser(ctx context.Context, box string, userID int64, access Access) error {
	if access <= AccessNone {
		_, err := s.db.ExecContext(ctx, `DELETE FROM box_users WHERE box = ? AND user_id = ?`, box, userID)
		if err != nil {
			return fmt.Errorf("remove user %d from box %s: %w", userID, box, err)
		}
		return nil
	}
	if access > AccessManage {
		return invalid("access", "access level %d is unknown: use listen, download, delete or manage", int(access))
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO box_users(box, user_id, access) VALUES (?, ?, ?)
		ON CONFLICT(box, user_id) DO UPDATE SET access = excluded.access`, box, userID, access.String())
	if err != nil {
		if isForeignKey(err) {
			return fmt.Errorf("give user %d access to box %s: box or user %w", userID, box, ErrNotFound)
		}
		return fmt.Errorf("give user %d access to box %s: %w", userID, box, err)
	}
	return nil
}

// BoxUsers lists everyone who may work a box (direct or through their
// extension) with their effective access, ordered by user id. Admins see
// every box but are listed only when linked to it like anyone else.
func (s *Store) BoxUsers(ctx context.Context, box string) ([]BoxUser, error) {
	return boxUsers(ctx, s.read, box)
}

func boxUsers(ctx context.Context, q dbtx, box string) ([]BoxUser, error) {
	rows, err := q.QueryContext(ctx, `SELECT u.id, u.name, x.access FROM (
			SELECT user_id, access FROM box_users WHERE box = ?1
			UNION ALL SELECT u.id, bm.access FROM box_members bm JOIN users u ON u.extension = bm.extension WHERE bm.box = ?1
			UNION ALL SELECT u.id, 'manage' FROM voicemail_boxes b JOIN users u ON u.extension = b.owner WHERE b.number = ?1
		) x JOIN users u ON u.id = x.user_id ORDER BY u.id`, box)
	if err != nil {
		return nil, fmt.Errorf("users of box %s: %w", box, err)
	}
	defer rows.Close()
	var out []BoxUser
	for rows.Next() {
		var bu BoxUser
		if err := rows.Scan(&bu.UserID, &bu.Name, &bu.Access); err != nil {
			return nil, fmt.Errorf("users of box %s: %w", box, err)
		}
		if n := len(out); n > 0 && out[n-1].UserID == bu.UserID {
			// The same user by several ways: the highest level counts.
			prev, _ := ParseAccess(out[n-1].Access)
			if a, _ := ParseAccess(bu.Access); a > prev {
				out[n-1].Access = bu.Access
			}
			continue
		}
		out = append(out, bu)
	}
	return out, rows.Err()
}
