-- The team inbox: web sessions and login lockout, per-user inbox access,
-- the message workflow (assignee, in progress, conversations, notes), inbox
-- settings (auto-assignment, overdue limit, trash retention) and the
-- notification rules and their outbox.

ALTER TABLE users ADD COLUMN locked_until INTEGER NOT NULL DEFAULT 0; -- unix seconds; login lockout
ALTER TABLE users ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;

-- A browser session. Only the SHA-256 of the cookie's token is stored, so a
-- copy of the database can't be used to log in.
CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    created_at    INTEGER NOT NULL, -- unix seconds
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    source        TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- Failed logins, counted per name and per source address over a window.
CREATE TABLE login_failures (
    name    TEXT NOT NULL,
    source  TEXT NOT NULL,
    at      INTEGER NOT NULL -- unix seconds
);
CREATE INDEX login_failures_name ON login_failures(name, at);
CREATE INDEX login_failures_source ON login_failures(source, at);

-- Access a web user has to a box directly (besides membership through the
-- user's linked extension; the higher of the two counts).
CREATE TABLE box_users (
    box      TEXT NOT NULL REFERENCES voicemail_boxes(number) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    access   TEXT NOT NULL DEFAULT 'listen' CHECK (access IN ('listen', 'download', 'delete', 'manage')),
    PRIMARY KEY (box, user_id)
);

-- Inbox settings.
ALTER TABLE voicemail_boxes ADD COLUMN conversation_minutes INTEGER NOT NULL DEFAULT 1440; -- 0: no grouping
ALTER TABLE voicemail_boxes ADD COLUMN assign_mode TEXT NOT NULL DEFAULT 'none' CHECK (assign_mode IN ('none', 'round-robin', 'rota'));
ALTER TABLE voicemail_boxes ADD COLUMN assign_last_user INTEGER NOT NULL DEFAULT 0; -- round robin: who got the last one
ALTER TABLE voicemail_boxes ADD COLUMN open_limit_minutes INTEGER NOT NULL DEFAULT 0; -- 0: no overdue alerts
ALTER TABLE voicemail_boxes ADD COLUMN done_on_callback INTEGER NOT NULL DEFAULT 0;
ALTER TABLE voicemail_boxes ADD COLUMN trash_days INTEGER NOT NULL DEFAULT 30;

-- The weekly rota for auto-assignment: who catches each weekday's messages
-- (0 = Sunday, in the server's local time).
CREATE TABLE box_rota (
    box      TEXT NOT NULL REFERENCES voicemail_boxes(number) ON DELETE CASCADE,
    weekday  INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (box, weekday)
);

-- The message workflow. status stays open/done (what *56 and the CLI know);
-- in_progress refines open.
ALTER TABLE messages ADD COLUMN assignee INTEGER REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE messages ADD COLUMN in_progress INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN conversation INTEGER NOT NULL DEFAULT 0; -- id of the conversation's first message
ALTER TABLE messages ADD COLUMN done_note TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0; -- unix ms of the last change
ALTER TABLE messages ADD COLUMN overdue_notified INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET conversation = id, updated_at = created_at;

-- The inbox views walk these newest first (box, view, then started_at and
-- the rowid), so a page of a million-message box reads only its own rows.
-- messages_live replaces 0002's messages_box, which the planner preferred
-- for the open and done views and then had to filter the whole box.
DROP INDEX messages_box;
CREATE INDEX messages_live ON messages(box, started_at) WHERE deleted_at IS NULL;                      -- all
CREATE INDEX messages_inbox ON messages(box, status, assignee, started_at) WHERE deleted_at IS NULL; -- unassigned, mine
CREATE INDEX messages_status ON messages(box, status, started_at) WHERE deleted_at IS NULL;           -- open, done
CREATE INDEX messages_unplayed ON messages(box, played) WHERE deleted_at IS NULL;                    -- unplayed counts
CREATE INDEX messages_conversation ON messages(conversation);
CREATE INDEX messages_caller ON messages(caller_number, started_at);
CREATE INDEX messages_trash ON messages(box, deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX audit_log_message ON audit_log(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX audit_log_actor ON audit_log(actor, at);

-- Per-box counts the view tabs show that can grow without bound (done,
-- unplayed, trash), kept by triggers: counting a million index entries on
-- every page load would take a good part of a second. The small counts
-- (unassigned, mine, open) are counted from the indexes.
CREATE TABLE inbox_counts (
    box       TEXT PRIMARY KEY,
    done      INTEGER NOT NULL DEFAULT 0,
    unplayed  INTEGER NOT NULL DEFAULT 0,
    trash     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO inbox_counts(box) SELECT number FROM voicemail_boxes;
UPDATE inbox_counts SET
    done = (SELECT COUNT(*) FROM messages m WHERE m.box = inbox_counts.box AND m.deleted_at IS NULL AND m.status = 'done'),
    unplayed = (SELECT COUNT(*) FROM messages m WHERE m.box = inbox_counts.box AND m.deleted_at IS NULL AND m.played = 0),
    trash = (SELECT COUNT(*) FROM messages m WHERE m.box = inbox_counts.box AND m.deleted_at IS NOT NULL);
-- The row lives as long as its box; updates for a box being removed find
-- no row and change nothing.
CREATE TRIGGER inbox_counts_box_new AFTER INSERT ON voicemail_boxes BEGIN
    INSERT OR IGNORE INTO inbox_counts(box) VALUES (new.number);
END;
CREATE TRIGGER inbox_counts_box_gone AFTER DELETE ON voicemail_boxes BEGIN
    DELETE FROM inbox_counts WHERE box = old.number;
END;
CREATE TRIGGER inbox_counts_new AFTER INSERT ON messages BEGIN
    UPDATE inbox_counts SET
        done = done + (new.deleted_at IS NULL AND new.status = 'done'),
        unplayed = unplayed + (new.deleted_at IS NULL AND new.played = 0),
        trash = trash + (new.deleted_at IS NOT NULL)
    WHERE box = new.box;
END;
CREATE TRIGGER inbox_counts_gone AFTER DELETE ON messages BEGIN
    UPDATE inbox_counts SET
        done = done - (old.deleted_at IS NULL AND old.status = 'done'),
        unplayed = unplayed - (old.deleted_at IS NULL AND old.played = 0),
        trash = trash - (old.deleted_at IS NOT NULL)
    WHERE box = old.box;
END;
CREATE TRIGGER inbox_counts_changed AFTER UPDATE OF box, status, played, deleted_at ON messages BEGIN
    UPDATE inbox_counts SET
        done = done - (old.deleted_at IS NULL AND old.status = 'done'),
        unplayed = unplayed - (old.deleted_at IS NULL AND old.played = 0),
        trash = trash - (old.deleted_at IS NOT NULL)
    WHERE box = old.box;
    UPDATE inbox_counts SET
        done = done + (new.deleted_at IS NULL AND new.status = 'done'),
        unplayed = unplayed + (new.deleted_at IS NULL AND new.played = 0),
        trash = trash + (new.deleted_at IS NOT NULL)
    WHERE box = new.box;
END;

-- Where notifications go. A rule with a user belongs to that user (their
-- email, their Slack or webhook); one without is the inbox's own.
CREATE TABLE notify_rules (
    id          INTEGER PRIMARY KEY,
    box         TEXT NOT NULL REFERENCES voicemail_boxes(number) ON DELETE CASCADE,
    user_id     INTEGER REFERENCES users(id) ON DELETE CASCADE,
    channel     TEXT NOT NULL CHECK (channel IN ('email', 'slack', 'webhook')),
    target      TEXT NOT NULL,            -- address or URL
    secret      TEXT NOT NULL DEFAULT '', -- webhook HMAC key
    on_new      INTEGER NOT NULL DEFAULT 1,
    on_assign   INTEGER NOT NULL DEFAULT 1,
    on_overdue  INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL
);
CREATE INDEX notify_rules_box ON notify_rules(box);

-- Notifications waiting to be sent, retried until they are.
CREATE TABLE notify_outbox (
    id               INTEGER PRIMARY KEY,
    rule_id          INTEGER REFERENCES notify_rules(id) ON DELETE CASCADE,
    event            TEXT NOT NULL, -- message.new, message.assigned, message.overdue
    message_id       INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    channel          TEXT NOT NULL,
    target           TEXT NOT NULL,
    payload          TEXT NOT NULL, -- JSON
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL, -- unix ms
    last_error       TEXT NOT NULL DEFAULT '',
    sent_at          INTEGER
);
CREATE INDEX notify_outbox_due ON notify_outbox(sent_at, next_attempt_at);
