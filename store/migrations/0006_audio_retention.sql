-- Audio retention: a message's recording can be deleted after a set number
-- of days while its row, transcript and audit trail stay.
ALTER TABLE messages ADD COLUMN audio_purged_at INTEGER; -- unix ms; the audio file is gone
CREATE INDEX messages_audio_age ON messages(started_at) WHERE audio_purged_at IS NULL;

-- A message forwarded from the inbox always carries its audio and
-- transcript, whatever the box's attach setting says.
ALTER TABLE email_outbox ADD COLUMN forwarded INTEGER NOT NULL DEFAULT 0;
