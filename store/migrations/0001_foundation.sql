-- Foundation: extensions, their registered devices, the call log, web users and settings.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- An extension is a number people dial and a SIP account phones register with.
-- Secrets are never stored: only the digest HA1 hashes (RFC 2617 / RFC 8760)
-- for the realm they were made with.
CREATE TABLE extensions (
    number         TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    realm          TEXT NOT NULL,
    ha1_md5        TEXT NOT NULL,
    ha1_sha256     TEXT NOT NULL,
    ring_seconds   INTEGER NOT NULL DEFAULT 25 CHECK (ring_seconds BETWEEN 1 AND 600),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- One row per registered device (RFC 3261 section 10 binding).
CREATE TABLE bindings (
    extension   TEXT NOT NULL REFERENCES extensions(number) ON DELETE CASCADE,
    contact     TEXT NOT NULL,  -- Contact URI exactly as the device sent it
    transport   TEXT NOT NULL,  -- udp or tcp
    source      TEXT NOT NULL,  -- ip:port the REGISTER came from (NAT: we reach the device here)
    call_id     TEXT NOT NULL,
    cseq        INTEGER NOT NULL,
    user_agent  TEXT NOT NULL DEFAULT '',
    expires_at  INTEGER NOT NULL, -- unix seconds
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (extension, contact)
);
CREATE INDEX bindings_expiry ON bindings(expires_at);

-- Every call attempt gets a row, whatever its outcome.
CREATE TABLE calls (
    id           INTEGER PRIMARY KEY,
    sip_call_id  TEXT NOT NULL,
    from_number  TEXT NOT NULL,
    from_name    TEXT NOT NULL DEFAULT '',
    to_number    TEXT NOT NULL,
    started_at   INTEGER NOT NULL, -- unix milliseconds
    answered_at  INTEGER,
    ended_at     INTEGER,
    status       TEXT NOT NULL,    -- ringing, answered, busy, no-answer, canceled, unavailable, not-found, failed
    hangup_by    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX calls_started ON calls(started_at);
CREATE INDEX calls_from ON calls(from_number, started_at);
CREATE INDEX calls_to ON calls(to_number, started_at);

-- People who log in to the web UI.
CREATE TABLE users (
    id                    INTEGER PRIMARY KEY,
    name                  TEXT NOT NULL UNIQUE,
    email                 TEXT NOT NULL DEFAULT '',
    password_hash         TEXT NOT NULL,  -- argon2id, PHC string
    is_admin              INTEGER NOT NULL DEFAULT 0,
    must_change_password  INTEGER NOT NULL DEFAULT 0,
    extension             TEXT REFERENCES extensions(number) ON DELETE SET NULL,
    created_at            INTEGER NOT NULL
);
