-- users have a role: an admin makes ingest and notify tokens and posting
-- widgets and sees the server panel; a member does not. The first account
-- is the admin (CreateUser decides it in its INSERT); in a database that
-- has accounts already, the oldest one becomes it, so an upgrade leaves
-- someone who can make tokens.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member'));
UPDATE users SET role = 'admin' WHERE id = (SELECT MIN(id) FROM users);

-- widget_tokens are every widget token ever made. The token itself is
-- signed, not stored, and carries its id: this row is what lists it and
-- revokes it (every widget request checks revoked_at). user_id is who made
-- it, NULL for the command line (`beacon embed create`); AUTOINCREMENT:
-- an id names one token for ever.
CREATE TABLE widget_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    widget     TEXT    NOT NULL,
    room       TEXT    NOT NULL,  -- '' for a widget of no room
    post       INTEGER NOT NULL,  -- 1: visitors may post
    origins    TEXT    NOT NULL,  -- space-separated; '' leaves it to BEACON_EMBED_ORIGINS
    expires_at INTEGER NOT NULL,  -- unix ms
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,  -- unix ms
    revoked_at INTEGER            -- unix ms; NULL while it works
) STRICT;
CREATE INDEX widget_tokens_user ON widget_tokens (user_id);
CREATE INDEX widget_tokens_revoked ON widget_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
