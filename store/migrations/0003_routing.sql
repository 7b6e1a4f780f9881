-- Routing: ring groups, call queues, auto attendants with business hours,
-- SIP trunks, inbound numbers and outbound dial rules.

-- What an extension may dial out to (toll-fraud guard); emergency numbers
-- are always allowed.
ALTER TABLE extensions ADD COLUMN outbound TEXT NOT NULL DEFAULT 'national'
    CHECK (outbound IN ('internal', 'local', 'national', 'international'));

CREATE TABLE ring_groups (
    number        TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    strategy      TEXT NOT NULL DEFAULT 'all' CHECK (strategy IN ('all', 'order')),
    ring_seconds  INTEGER NOT NULL DEFAULT 20,  -- per member in order, all together in all
    timeout       INTEGER NOT NULL DEFAULT 60,  -- overall, seconds
    no_answer     TEXT NOT NULL DEFAULT '',     -- destination, e.g. vm:600
    created_at    INTEGER NOT NULL
);
CREATE TABLE ring_group_members (
    grp        TEXT NOT NULL REFERENCES ring_groups(number) ON DELETE CASCADE,
    extension  TEXT NOT NULL REFERENCES extensions(number) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    PRIMARY KEY (grp, extension)
);

CREATE TABLE queues (
    number            TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    strategy          TEXT NOT NULL DEFAULT 'roundrobin' CHECK (strategy IN ('roundrobin', 'longest-idle')),
    ring_seconds      INTEGER NOT NULL DEFAULT 15,
    max_wait          INTEGER NOT NULL DEFAULT 300,
    fallback          TEXT NOT NULL DEFAULT '',  -- on max wait or no member logged in
    leave_digit       TEXT NOT NULL DEFAULT '1', -- pressed while waiting: go to fallback now
    announce_seconds  INTEGER NOT NULL DEFAULT 30, -- position/wait announcements (0: off)
    music             TEXT NOT NULL DEFAULT '',  -- comma-separated files under music/, '' = built-in
    created_at        INTEGER NOT NULL
);
CREATE TABLE queue_members (
    queue         TEXT NOT NULL REFERENCES queues(number) ON DELETE CASCADE,
    extension     TEXT NOT NULL REFERENCES extensions(number) ON DELETE CASCADE,
    logged_in     INTEGER NOT NULL DEFAULT 1,
    last_call_at  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, extension)
);

-- Weekly hours and holidays, shared by attendants and inbound numbers.
CREATE TABLE schedules (
    name      TEXT PRIMARY KEY,
    timezone  TEXT NOT NULL DEFAULT 'UTC'
);
CREATE TABLE schedule_hours (
    schedule  TEXT NOT NULL REFERENCES schedules(name) ON DELETE CASCADE,
    weekday   INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6), -- 0 = Sunday
    opens     TEXT NOT NULL,  -- HH:MM
    closes    TEXT NOT NULL   -- HH:MM
);
CREATE TABLE schedule_holidays (
    schedule  TEXT NOT NULL REFERENCES schedules(name) ON DELETE CASCADE,
    day       TEXT NOT NULL,  -- YYYY-MM-DD
    PRIMARY KEY (schedule, day)
);

CREATE TABLE attendants (
    number               TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    greeting             TEXT NOT NULL DEFAULT '',  -- file under greetings/
    timeout_dest         TEXT NOT NULL DEFAULT '',
    invalid_dest         TEXT NOT NULL DEFAULT '',
    schedule             TEXT REFERENCES schedules(name) ON DELETE SET NULL,
    after_hours_dest     TEXT NOT NULL DEFAULT '',
    after_hours_greeting TEXT NOT NULL DEFAULT '',
    created_at           INTEGER NOT NULL
);
CREATE TABLE attendant_options (
    attendant  TEXT NOT NULL REFERENCES attendants(number) ON DELETE CASCADE,
    digit      TEXT NOT NULL CHECK (length(digit) = 1),
    dest       TEXT NOT NULL,  -- a destination, "dial-by-extension" or "repeat"
    PRIMARY KEY (attendant, digit)
);

CREATE TABLE trunks (
    name           TEXT PRIMARY KEY,
    mode           TEXT NOT NULL CHECK (mode IN ('register', 'peer')),
    host           TEXT NOT NULL,          -- provider address, host[:port]
    transport      TEXT NOT NULL DEFAULT 'udp',
    username       TEXT NOT NULL DEFAULT '',
    password       TEXT NOT NULL DEFAULT '', -- sent to the provider, so kept as given
    auth_username  TEXT NOT NULL DEFAULT '',
    caller_id      TEXT NOT NULL DEFAULT '', -- number presented on outbound calls
    codecs         TEXT NOT NULL DEFAULT 'PCMU,PCMA',
    allow_from     TEXT NOT NULL DEFAULT '', -- peer mode: comma-separated IPs/CIDRs
    expires        INTEGER NOT NULL DEFAULT 300,
    created_at     INTEGER NOT NULL
);

-- Inbound numbers (DIDs) arriving on trunks.
CREATE TABLE inbound_numbers (
    number            TEXT PRIMARY KEY,
    dest              TEXT NOT NULL,
    schedule          TEXT REFERENCES schedules(name) ON DELETE SET NULL,
    after_hours_dest  TEXT NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL
);

-- Outbound dial rules, tried by longest prefix.
CREATE TABLE dial_rules (
    prefix   TEXT PRIMARY KEY,      -- digits the dialled number starts with ('' = anything)
    trunk    TEXT NOT NULL REFERENCES trunks(name) ON DELETE CASCADE,
    strip    INTEGER NOT NULL DEFAULT 0,
    prepend  TEXT NOT NULL DEFAULT '',
    class    TEXT NOT NULL DEFAULT 'national' CHECK (class IN ('local', 'national', 'international', 'emergency'))
);
