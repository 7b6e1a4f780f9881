-- Voicemail: boxes (shared and personal), their members, messages, PIN
-- lockouts, the audit log and the email outbox.

-- Where an extension's unanswered calls go (a destination such as vm:101),
-- and whether it has a personal voicemail box.
ALTER TABLE extensions ADD COLUMN voicemail INTEGER NOT NULL DEFAULT 1;
ALTER TABLE extensions ADD COLUMN forward_no_answer TEXT NOT NULL DEFAULT '';
ALTER TABLE extensions ADD COLUMN forward_busy TEXT NOT NULL DEFAULT '';
ALTER TABLE extensions ADD COLUMN forward_unavailable TEXT NOT NULL DEFAULT '';

-- A personal box has the number of its extension (reached by forwards and *56,
-- not dialled); a shared box has a dialable number of its own.
CREATE TABLE voicemail_boxes (
    number           TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('shared', 'personal')),
    owner            TEXT REFERENCES extensions(number) ON DELETE CASCADE,
    language         TEXT NOT NULL DEFAULT 'en',
    pin_hash         TEXT NOT NULL DEFAULT '',
    emails           TEXT NOT NULL DEFAULT '',  -- comma-separated
    email_attach     INTEGER NOT NULL DEFAULT 1,
    greeting         TEXT NOT NULL DEFAULT '',  -- file name under the data dir's greetings/
    operator         TEXT NOT NULL DEFAULT '',  -- destination for 0 during the greeting
    max_seconds      INTEGER NOT NULL DEFAULT 180,
    silence_seconds  INTEGER NOT NULL DEFAULT 5,
    locked_until     INTEGER NOT NULL DEFAULT 0, -- unix seconds; PIN lockout
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    CHECK ((kind = 'personal') = (owner IS NOT NULL))
);
CREATE UNIQUE INDEX voicemail_boxes_owner ON voicemail_boxes(owner) WHERE owner IS NOT NULL;

CREATE TABLE box_members (
    box        TEXT NOT NULL REFERENCES voicemail_boxes(number) ON DELETE CASCADE,
    extension  TEXT NOT NULL REFERENCES extensions(number) ON DELETE CASCADE,
    access     TEXT NOT NULL DEFAULT 'listen' CHECK (access IN ('listen', 'download', 'delete', 'manage')),
    lamp       INTEGER NOT NULL DEFAULT 1, -- this member's phone shows the box's message-waiting lamp
    PRIMARY KEY (box, extension)
);

-- A message row exists only once its audio file is complete on disk.
CREATE TABLE messages (
    id             INTEGER PRIMARY KEY,
    box            TEXT NOT NULL REFERENCES voicemail_boxes(number) ON DELETE CASCADE,
    caller_number  TEXT NOT NULL,
    caller_name    TEXT NOT NULL DEFAULT '',
    called_number  TEXT NOT NULL,
    started_at     INTEGER NOT NULL, -- unix milliseconds
    duration_ms    INTEGER NOT NULL,
    audio          TEXT NOT NULL,    -- file name under the data dir's messages/
    played         INTEGER NOT NULL DEFAULT 0,
    status         TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
    deleted_at     INTEGER,          -- in the trash since (unix ms)
    created_at     INTEGER NOT NULL
);
CREATE INDEX messages_box ON messages(box, deleted_at, started_at);

-- Wrong PINs, counted per box over a window for the lockout.
CREATE TABLE pin_failures (
    box     TEXT NOT NULL REFERENCES voicemail_boxes(number) ON DELETE CASCADE,
    at      INTEGER NOT NULL, -- unix seconds
    source  TEXT NOT NULL
);
CREATE INDEX pin_failures_box ON pin_failures(box, at);

-- Who did what, when.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL, -- unix milliseconds
    actor       TEXT NOT NULL,    -- e.g. ext:101, user:admin, cli, system
    action      TEXT NOT NULL,
    box         TEXT NOT NULL DEFAULT '',
    message_id  INTEGER,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log(at);

-- Mail waiting to be sent; a failure never touches the message itself.
CREATE TABLE email_outbox (
    id               INTEGER PRIMARY KEY,
    message_id       INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    address          TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL, -- unix milliseconds
    last_error       TEXT NOT NULL DEFAULT '',
    sent_at          INTEGER
);
CREATE INDEX email_outbox_due ON email_outbox(sent_at, next_attempt_at);

-- Every existing extension gets its personal box (no PIN yet: set with vm set).
INSERT INTO voicemail_boxes(number, name, kind, owner, created_at, updated_at)
SELECT number, name, 'personal', number, CAST(strftime('%s','now') AS INTEGER), CAST(strftime('%s','now') AS INTEGER)
FROM extensions;
