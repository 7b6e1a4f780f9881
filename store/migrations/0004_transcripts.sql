-- Transcription: a queue of jobs kept with the messages, transcripts with
-- their timed segments, and a full-text index of transcripts and callers.

ALTER TABLE voicemail_boxes ADD COLUMN transcribe INTEGER NOT NULL DEFAULT 1;
ALTER TABLE voicemail_boxes ADD COLUMN transcribe_language TEXT NOT NULL DEFAULT 'auto';

-- One job per message. States: queued, running, done, failed (gave up),
-- no-model (waiting for a model or engine), off (the box doesn't transcribe).
CREATE TABLE transcription_jobs (
    message_id       INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'no-model', 'off')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL, -- unix milliseconds
    error            TEXT NOT NULL DEFAULT '',
    updated_at       INTEGER NOT NULL
);
CREATE INDEX transcription_jobs_due ON transcription_jobs(state, next_attempt_at);

CREATE TABLE transcripts (
    message_id  INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    language    TEXT NOT NULL,
    model       TEXT NOT NULL,
    text        TEXT NOT NULL,
    seconds     REAL NOT NULL,    -- time the transcription took
    created_at  INTEGER NOT NULL
);

CREATE TABLE transcript_segments (
    message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER NOT NULL,
    text        TEXT NOT NULL,
    PRIMARY KEY (message_id, idx)
);

-- Search: rowid is the message id.
CREATE VIRTUAL TABLE message_search USING fts5(transcript, caller_number, caller_name, tokenize = 'unicode61');

-- Every new message gets its job and its search row in the transaction that
-- stores it, so neither can be lost.
CREATE TRIGGER messages_new AFTER INSERT ON messages BEGIN
    INSERT INTO transcription_jobs(message_id, state, next_attempt_at, updated_at)
    VALUES (new.id,
            CASE WHEN (SELECT transcribe FROM voicemail_boxes WHERE number = new.box) THEN 'queued' ELSE 'off' END,
            CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER));
    INSERT INTO message_search(rowid, transcript, caller_number, caller_name) VALUES (new.id, '', new.caller_number, new.caller_name);
END;
CREATE TRIGGER messages_gone AFTER DELETE ON messages BEGIN
    DELETE FROM message_search WHERE rowid = old.id;
END;
CREATE TRIGGER transcripts_new AFTER INSERT ON transcripts BEGIN
    UPDATE message_search SET transcript = new.text WHERE rowid = new.message_id;
END;
CREATE TRIGGER transcripts_changed AFTER UPDATE ON transcripts BEGIN
    UPDATE message_search SET transcript = new.text WHERE rowid = new.message_id;
END;

-- Messages from before this version: searchable by caller, and queued.
INSERT INTO message_search(rowid, transcript, caller_number, caller_name) SELECT id, '', caller_number, caller_name FROM messages;
INSERT INTO transcription_jobs(message_id, state, next_attempt_at, updated_at)
SELECT id, 'queued', CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) FROM messages;
