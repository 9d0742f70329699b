-- users sign in with a name and a password. The hash is a PHC string
-- ($argon2id$…) made by package auth; the name is unique whatever its case.
CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password   TEXT    NOT NULL,
    created_at INTEGER NOT NULL -- unix ms
) STRICT;

-- sessions are signed-in browsers. The cookie holds a random secret; only
-- its SHA-256 is stored, so a copy of the database signs no one in. csrf is
-- the token every form of the session must carry. AUTOINCREMENT: an id
-- names one session for ever (the settings page revokes by id).
CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    hash       BLOB    NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf       TEXT    NOT NULL,
    agent      TEXT    NOT NULL,
    created_at INTEGER NOT NULL, -- unix ms
    expires_at INTEGER NOT NULL  -- unix ms
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);

-- tokens are API credentials, stored as the SHA-256 of the token (shown
-- once). user_id is NULL for a server token (made by `beacon token create`
-- or BEACON_BOOTSTRAP_TOKEN); scopes are space-separated.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    hash         BLOB    NOT NULL UNIQUE,
    user_id      INTEGER REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL, -- unix ms
    last_used_at INTEGER,          -- unix ms
    revoked_at   INTEGER           -- unix ms; NULL while it works
) STRICT;

-- notifications are a user's private feed; position is the position of the
-- event that announced it (topic "user:<id>"). No foreign key to events:
-- pruning the log leaves the feed alone.
CREATE TABLE notifications (
    position   INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    link       TEXT    NOT NULL,
    created_at INTEGER NOT NULL, -- unix ms
    read_at    INTEGER           -- unix ms; NULL while unread
) STRICT;
CREATE INDEX notifications_user ON notifications (user_id, position);
CREATE INDEX notifications_unread ON notifications (user_id, position) WHERE read_at IS NULL;

-- messages now say who wrote them: a user's id, or NULL for a guest (when
-- the server lets signed-out visitors post under a chosen name).
ALTER TABLE messages ADD COLUMN user_id INTEGER;
