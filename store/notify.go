package store

// Notifications: rules saying who hears about what (per user and per inbox,
// by email, Slack or a signed webhook), and the outbox the notifier sends
// from. Events are queued inside the transaction that causes them, so a
// committed change always gets its notifications and a failed one none.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Notification events.
const (
	NotifyNew      = "message.new"
	NotifyAssigned = "message.assigned"
	NotifyOverdue  = "message.overdue"
)

// NotifyEvent is something notification rules may want to hear about.
type NotifyEvent struct {
	Event     string // one of the Notify constants
	MessageID int64
	Box       string
	// Assignee: for message.assigned, the user it was assigned to (only that
	// user's rules fire); otherwise 0.
	Assignee int64
}

// Notification channels.
const (
	NotifyChannelEmail   = "email"
	NotifyChannelSlack   = "slack"
	NotifyChannelWebhook = "webhook"
)

// SettingWebBaseURL is the setting with the web UI's base URL (such as
// https://pbx.example.com): notifications link to BASE/messages/ID.
const SettingWebBaseURL = "web.base_url"

// NotifyRule says where one user's (or one inbox's) notifications of a box go.
type NotifyRule struct {
	ID      int64  `json:"id"`
	Box     string `json:"box"`
	UserID  int64  `json:"user_id"` // 0: the inbox's own rule
	Channel string `json:"channel"` // email, slack, webhook
	Target  string `json:"target"`  // email address or URL
	// Secret is the webhook's HMAC key. Left empty for a new webhook rule, a
	// random one is made; left empty in an update, the old one is kept.
	Secret    string    `json:"secret,omitempty"`
	OnNew     bool      `json:"on_new"`
	OnAssign  bool      `json:"on_assign"`
	OnOverdue bool      `json:"on_overdue"`
	CreatedAt time.Time `json:"created_at"`
}

// validate checks r and normalises its target.
func (r *NotifyRule) validate() error {
	r.Target = strings.TrimSpace(r.Target)
	if r.Box == "" {
		return invalid("box", "choose the inbox whose messages you want to hear about")
	}
	switch r.Channel {
	case NotifyChannelEmail:
		a, err := mail.ParseAddress(r.Target)
		if err != nil || !strings.Contains(a.Address, "@") {
			return invalid("target", "%q is not an email address: write it like alice@example.com", r.Target)
		}
		r.Target = a.Address
	case NotifyChannelSlack, NotifyChannelWebhook:
		u, err := url.Parse(r.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid("target", "%q is not a web address: give an http:// or https:// URL", r.Target)
		}
		if len(r.Target) > 2000 {
			return invalid("target", "the URL is too long (at most 2000 characters)")
		}
	default:
		return invalid("channel", "channel %q: want email, slack or webhook", r.Channel)
	}
	if len(r.Secret) > 200 {
		return invalid("secret", "the secret is too long (at most 200 characters)")
	}
	if r.Channel != NotifyChannelWebhook {
		r.Secret = ""
	}
	if !r.OnNew && !r.OnAssign && !r.OnOverdue {
		return invalid("events", "choose at least one event: new message, assigned to me, or overdue")
	}
	return nil
}

// newSecret is a random webhook key.
func newSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// nullID stores 0 as NULL (an inbox rule has no user).
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// ruleRefError turns a foreign key failure into ErrNotFound.
func ruleRefError(err error, r NotifyRule) error {
	if err != nil && strings.Contains(err.Error(), "FOREIGN KEY") {
		if r.UserID != 0 {
			return fmt.Errorf("voicemail box %s or user %d: %w", r.Box, r.UserID, ErrNotFound)
		}
		return fmt.Errorf("voicemail box %s: %w", r.Box, ErrNotFound)
	}
	return err
}

// AddNotifyRule checks and stores a rule and returns it as stored (with its
// id and, for a webhook, its secret). Bad input is a *FieldError; an
// unknown box or user is ErrNotFound.
func (s *Store) AddNotifyRule(ctx context.Context, r NotifyRule) (NotifyRule, error) {
	if err := r.validate(); err != nil {
		return NotifyRule{}, err
	}
	if r.Channel == NotifyChannelWebhook && r.Secret == "" {
		r.Secret = newSecret()
	}
	r.CreatedAt = time.Now().UTC().Truncate(time.Second)
	res, err := s.db.ExecContext(ctx, `INSERT INTO notify_rules(box, user_id, channel, target, secret, on_new, on_assign, on_overdue, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Box, nullID(r.UserID), r.Channel, r.Target, r.Secret, r.OnNew, r.OnAssign, r.OnOverdue, r.CreatedAt.Unix())
	if err != nil {
		if err := ruleRefError(err, r); errors.Is(err, ErrNotFound) {
			return NotifyRule{}, err
		}
		return NotifyRule{}, fmt.Errorf("add notification rule: %w", err)
	}
	r.ID, _ = res.LastInsertId()
	return r, nil
}

// UpdateNotifyRule changes rule r.ID: its box, channel, target, events and
// (when not empty) secret. The owner (UserID) never changes.
func (s *Store) UpdateNotifyRule(ctx context.Context, r NotifyRule) (NotifyRule, error) {
	old, err := s.NotifyRuleByID(ctx, r.ID)
	if err != nil {
		return NotifyRule{}, err
	}
	r.UserID, r.CreatedAt = old.UserID, old.CreatedAt
	if err := r.validate(); err != nil {
		return NotifyRule{}, err
	}
	if r.Channel == NotifyChannelWebhook && r.Secret == "" {
		r.Secret = old.Secret
		if r.Secret == "" {
			r.Secret = newSecret()
		}
	}
	res, err := s.db.ExecContext(ctx, `UPDATE notify_rules SET box = ?, channel = ?, target = ?, secret = ?, on_new = ?, on_assign = ?, on_overdue = ?
		WHERE id = ?`, r.Box, r.Channel, r.Target, r.Secret, r.OnNew, r.OnAssign, r.OnOverdue, r.ID)
	if err != nil {
		if err := ruleRefError(err, r); errors.Is(err, ErrNotFound) {
			return NotifyRule{}, err
		}
		return NotifyRule{}, fmt.Errorf("update notification rule %d: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return NotifyRule{}, fmt.Errorf("notification rule %d: %w", r.ID, ErrNotFound)
	}
	return r, nil
}

// RemoveNotifyRule deletes a rule and its unsent notifications.
func (s *Store) RemoveNotifyRule(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM notify_rules WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("remove notification rule %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("notification rule %d: %w", id, ErrNotFound)
	}
	return nil
}

const notifyRuleCols = `id, box, COALESCE(user_id, 0), channel, target, secret, on_new, on_assign, on_overdue, created_at`

func scanNotifyRule(row interface{ Scan(...any) error }) (NotifyRule, error) {
	var r NotifyRule
	var created int64
	err := row.Scan(&r.ID, &r.Box, &r.UserID, &r.Channel, &r.Target, &r.Secret, &r.OnNew, &r.OnAssign, &r.OnOverdue, &created)
	r.CreatedAt = time.Unix(created, 0).UTC()
	return r, err
}

// NotifyRuleByID returns one rule, or ErrNotFound.
func (s *Store) NotifyRuleByID(ctx context.Context, id int64) (NotifyRule, error) {
	r, err := scanNotifyRule(s.read.QueryRowContext(ctx, `SELECT `+notifyRuleCols+` FROM notify_rules WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return NotifyRule{}, fmt.Errorf("notification rule %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return NotifyRule{}, fmt.Errorf("read notification rule %d: %w", id, err)
	}
	return r, nil
}

// NotifyRules lists a user's own rules.
func (s *Store) NotifyRules(ctx context.Context, userID int64) ([]NotifyRule, error) {
	return s.notifyRules(ctx, `user_id = ?`, userID)
}

// NotifyRulesOfBox lists every rule of a box: the inbox's own (UserID 0)
// and its users'.
func (s *Store) NotifyRulesOfBox(ctx context.Context, box string) ([]NotifyRule, error) {
	return s.notifyRules(ctx, `box = ?`, box)
}

func (s *Store) notifyRules(ctx context.Context, where string, arg any) ([]NotifyRule, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+notifyRuleCols+` FROM notify_rules WHERE `+where+` ORDER BY box, id`, arg)
	if err != nil {
		return nil, fmt.Errorf("list notification rules: %w", err)
	}
	defer rows.Close()
	var out []NotifyRule
	for rows.Next() {
		r, err := scanNotifyRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// NotifyPayload is the JSON queued for each notification: the webhook body
// as sent, and what the email and Slack texts are written from.
type NotifyPayload struct {
	Event   string            `json:"event"`
	Message NotifyMessageInfo `json:"message"`
	// Assignee is the name of the user the message is assigned to, if any.
	Assignee string `json:"assignee,omitempty"`
	// OpenLimitMinutes: for message.overdue, the box's limit.
	OpenLimitMinutes int `json:"open_limit_minutes,omitempty"`
}

// NotifyMessageInfo is the message a notification is about.
type NotifyMessageInfo struct {
	ID           int64     `json:"id"`
	Box          string    `json:"box"`
	BoxName      string    `json:"box_name"`
	CallerNumber string    `json:"caller_number"`
	CallerName   string    `json:"caller_name"`
	Time         time.Time `json:"time"`
	Duration     float64   `json:"duration_seconds"`
	Transcript   string    `json:"transcript,omitempty"`
	URL          string    `json:"url,omitempty"`
}

// enqueueNotifications queues, inside tx, one outbox row per matching rule,
// so a committed message always gets its notifications. A message that no
// longer exists queues nothing.
//
// message.new and message.overdue go to the box's rules with that event on;
// a user's rule only while the user can still reach the box (admin, direct
// access, membership through their extension, or their personal box), so
// losing access stops the mails. message.assigned goes only to the
// assignee's own rules of the box.
func (s *Store) enqueueNotifications(ctx context.Context, tx *sql.Tx, ev NotifyEvent) error {
	var p NotifyPayload
	var limit int
	var assignee sql.NullString
	var started, durMS int64
	err := tx.QueryRowContext(ctx, `SELECT m.id, m.box, b.name, m.caller_number, m.caller_name, m.started_at, m.duration_ms,
			COALESCE(t.text, ''), b.open_limit_minutes, u.name
		FROM messages m JOIN voicemail_boxes b ON b.number = m.box
		LEFT JOIN transcripts t ON t.message_id = m.id
		LEFT JOIN users u ON u.id = (CASE WHEN ?2 != 0 THEN ?2 ELSE m.assignee END)
		WHERE m.id = ?1`, ev.MessageID, ev.Assignee).
		Scan(&p.Message.ID, &p.Message.Box, &p.Message.BoxName, &p.Message.CallerNumber, &p.Message.CallerName,
			&started, &durMS, &p.Message.Transcript, &limit, &assignee)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notifications for message %d: %w", ev.MessageID, err)
	}
	p.Event = ev.Event
	p.Message.Time = time.UnixMilli(started).UTC()
	p.Message.Duration = float64(durMS) / 1000
	p.Assignee = assignee.String
	if ev.Event == NotifyOverdue {
		p.OpenLimitMinutes = limit
	}
	base, err := baseURL(ctx, tx)
	if err != nil {
		return err
	}
	if base != "" {
		p.Message.URL = base + "/messages/" + strconv.FormatInt(p.Message.ID, 10)
	}

	// A user rule fires for new and overdue messages only while its user can
	// reach the box.
	const reachable = `(r.user_id IS NULL OR u.is_admin = 1
		OR EXISTS (SELECT 1 FROM box_users bu WHERE bu.box = r.box AND bu.user_id = r.user_id)
		OR EXISTS (SELECT 1 FROM box_members bm WHERE bm.box = r.box AND bm.extension = u.extension)
		OR EXISTS (SELECT 1 FROM voicemail_boxes vb WHERE vb.number = r.box AND vb.kind = 'personal' AND vb.owner = u.extension))`
	q := `SELECT r.id, r.channel, r.target FROM notify_rules r LEFT JOIN users u ON u.id = r.user_id WHERE r.box = ? AND `
	args := []any{p.Message.Box}
	switch ev.Event {
	case NotifyNew:
		q += `r.on_new = 1 AND ` + reachable
	case NotifyOverdue:
		q += `r.on_overdue = 1 AND ` + reachable
	case NotifyAssigned:
		if ev.Assignee == 0 {
			return nil
		}
		q += `r.on_assign = 1 AND r.user_id = ?`
		args = append(args, ev.Assignee)
	default:
		return fmt.Errorf("notifications for message %d: unknown event %q", ev.MessageID, ev.Event)
	}
	payload, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("notifications for message %d: %w", ev.MessageID, err)
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY r.id`, args...)
	if err != nil {
		return fmt.Errorf("notification rules of box %s: %w", p.Message.Box, err)
	}
	type match struct {
		id              int64
		channel, target string
	}
	var ms []match
	for rows.Next() {
		var m match
		if err := rows.Scan(&m.id, &m.channel, &m.target); err != nil {
			rows.Close()
			return err
		}
		ms = append(ms, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("notification rules of box %s: %w", p.Message.Box, err)
	}
	now := time.Now().UnixMilli()
	for _, m := range ms {
		if _, err := tx.ExecContext(ctx, `INSERT INTO notify_outbox(rule_id, event, message_id, channel, target, payload, next_attempt_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, m.id, ev.Event, p.Message.ID, m.channel, m.target, string(payload), now); err != nil {
			return fmt.Errorf("queue notification for message %d: %w", p.Message.ID, err)
		}
	}
	return nil
}

// QueueNotification queues an event's notifications in a transaction of its
// own, for events that are not part of another store change.
func (s *Store) QueueNotification(ctx context.Context, ev NotifyEvent) error {
	return s.inTx(ctx, "queue notifications", func(tx *sql.Tx) error { return s.enqueueNotifications(ctx, tx, ev) })
}

// baseURL is the web UI's base URL without a trailing slash: the setting
// web.base_url, else the mail link base (smtp.link_base), else "".
func baseURL(ctx context.Context, tx *sql.Tx) (string, error) {
	var v string
	err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key IN (?, 'smtp.link_base') AND value != ''
		ORDER BY key = ? DESC LIMIT 1`, SettingWebBaseURL, SettingWebBaseURL).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read setting %s: %w", SettingWebBaseURL, err)
	}
	return strings.TrimRight(v, "/"), nil
}

// Notification is one queued notification with what is needed to send it.
type Notification struct {
	ID        int64
	RuleID    int64
	Event     string
	MessageID int64
	Channel   string
	Target    string
	Secret    string // the rule's current webhook key
	Payload   []byte // NotifyPayload as JSON
	Attempts  int
}

// neverRetry is next_attempt_at of a notification given up on: kept, never due.
const neverRetry = math.MaxInt64

// DueNotifications lists unsent notifications whose next attempt is due,
// oldest first.
func (s *Store) DueNotifications(ctx context.Context, now time.Time, limit int) ([]Notification, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT o.id, COALESCE(o.rule_id, 0), o.event, COALESCE(o.message_id, 0), o.channel, o.target,
			COALESCE(r.secret, ''), o.payload, o.attempts
		FROM notify_outbox o LEFT JOIN notify_rules r ON r.id = o.rule_id
		WHERE o.sent_at IS NULL AND o.next_attempt_at <= ? ORDER BY o.next_attempt_at, o.id LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("list due notifications: %w", err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		var payload string
		if err := rows.Scan(&n.ID, &n.RuleID, &n.Event, &n.MessageID, &n.Channel, &n.Target, &n.Secret, &payload, &n.Attempts); err != nil {
			return nil, err
		}
		n.Payload = []byte(payload)
		out = append(out, n)
	}
	return out, rows.Err()
}

// NotificationSent marks a notification sent.
func (s *Store) NotificationSent(ctx context.Context, id int64, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE notify_outbox SET sent_at = ?, attempts = attempts + 1, last_error = '' WHERE id = ?`, at.UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("mark notification %d sent: %w", id, err)
	}
	return nil
}

// NotificationFailed records a failed attempt and when to try again; a zero
// next gives up: the row stays (unsent, with its error) but is never due.
func (s *Store) NotificationFailed(ctx context.Context, id int64, next time.Time, reason string) error {
	at := int64(neverRetry)
	if !next.IsZero() {
		at = next.UnixMilli()
	} else {
		reason = "gave up: " + reason
	}
	_, err := s.db.ExecContext(ctx, `UPDATE notify_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?`, reason, at, id)
	if err != nil {
		return fmt.Errorf("record failed notification %d: %w", id, err)
	}
	return nil
}

// NotificationState is a queued notification's delivery state.
type NotificationState struct {
	ID          int64      `json:"id"`
	RuleID      int64      `json:"rule_id"`
	Event       string     `json:"event"`
	MessageID   int64      `json:"message_id"`
	Channel     string     `json:"channel"`
	Target      string     `json:"target"`
	Attempts    int        `json:"attempts"`
	NextAttempt *time.Time `json:"next_attempt_at,omitempty"` // nil: sent or given up
	LastError   string     `json:"last_error,omitempty"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
}

// NotificationsOf lists the notifications queued for a message, sent or not.
func (s *Store) NotificationsOf(ctx context.Context, messageID int64) ([]NotificationState, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, COALESCE(rule_id, 0), event, channel, target, attempts, next_attempt_at, last_error, sent_at
		FROM notify_outbox WHERE message_id = ? ORDER BY id`, messageID)
	if err != nil {
		return nil, fmt.Errorf("list notifications of message %d: %w", messageID, err)
	}
	defer rows.Close()
	var out []NotificationState
	for rows.Next() {
		n := NotificationState{MessageID: messageID}
		var next int64
		var sent sql.NullInt64
		if err := rows.Scan(&n.ID, &n.RuleID, &n.Event, &n.Channel, &n.Target, &n.Attempts, &next, &n.LastError, &sent); err != nil {
			return nil, err
		}
		if !sent.Valid && next != neverRetry {
			t := time.UnixMilli(next).UTC()
			n.NextAttempt = &t
		}
		n.SentAt = msTime(sent)
		out = append(out, n)
	}
	return out, rows.Err()
}

// overdueQuery selects open messages (not in the trash, not yet reported)
// older than their box's open limit. ?1 is now in unix ms.
const overdueQuery = `SELECT ` + "%s" + ` FROM messages m JOIN voicemail_boxes b ON b.number = m.box
	WHERE b.open_limit_minutes > 0 AND m.status = 'open' AND m.deleted_at IS NULL AND m.overdue_notified = 0
		AND m.created_at <= ?1 - b.open_limit_minutes * 60000
	ORDER BY m.created_at, m.id LIMIT 500`

// OverdueMessages lists open messages that have waited longer than their
// box's open limit and were not yet reported (at most 500, oldest first).
func (s *Store) OverdueMessages(ctx context.Context, now time.Time) ([]Message, error) {
	rows, err := s.read.QueryContext(ctx, fmt.Sprintf(overdueQuery, messageCols("m.")), now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list overdue messages: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// NotifyOverdue marks every overdue message reported and queues its
// message.overdue notifications, in one transaction, so each message is
// reported once. It returns how many messages were overdue.
func (s *Store) NotifyOverdue(ctx context.Context, now time.Time) (int, error) {
	// Most rounds find nothing: look on a reader first rather than take the
	// write lock every few seconds.
	var found int
	err := s.read.QueryRowContext(ctx, fmt.Sprintf(overdueQuery, "COUNT(*)"), now.UnixMilli()).Scan(&found)
	if err != nil {
		return 0, fmt.Errorf("look for overdue messages: %w", err)
	}
	if found == 0 {
		return 0, nil
	}
	n := 0
	err = s.inTx(ctx, "queue overdue notifications", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, fmt.Sprintf(overdueQuery, "m.id, m.box"), now.UnixMilli())
		if err != nil {
			return err
		}
		var evs []NotifyEvent
		for rows.Next() {
			ev := NotifyEvent{Event: NotifyOverdue}
			if err := rows.Scan(&ev.MessageID, &ev.Box); err != nil {
				rows.Close()
				return err
			}
			evs = append(evs, ev)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, ev := range evs {
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET overdue_notified = 1 WHERE id = ?`, ev.MessageID); err != nil {
				return err
			}
			if err := s.enqueueNotifications(ctx, tx, ev); err != nil {
				return err
			}
		}
		n = len(evs)
		return nil
	})
	return n, err
}
