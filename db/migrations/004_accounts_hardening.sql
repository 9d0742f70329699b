-- A session's CSRF token is no longer stored: it is an HMAC of the
-- session's id under a key derived from the server secret, so it is bound
-- to the session and a copy of the database does not hold it.
ALTER TABLE sessions DROP COLUMN csrf;

-- last_used_at is when the session was last used, recorded at most every
-- so often (not per request), so that a session unused for a while ends.
-- Sessions older than this column count from the upgrade.
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0; -- unix ms
UPDATE sessions SET last_used_at = CAST(unixepoch('subsec') * 1000 AS INTEGER);
