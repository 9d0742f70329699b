-- A session's CSRF token is no longer stored: it is an HMAC of the
-- session's id under a key derived from the server secret, so it is bound
-- to the session and a copy of the database does not hold it.
ALTER TABLE sessions DROP COLUMN csrf;

-- last_used_at is when the session was last used, recorded at most every
-- so often (not per request), so that a session unused for a while ends.
-- Sessions older than this column count from the upgrade.
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0; -- unix ms
UPDATE sessions SET last_used_at = CAST(unixepoch('subsec') * 1000 AS INTEGER);

-- name_key is what account names are compared by: the name's PRECIS
-- UsernameCaseMapped form (package names), so "Émile" and "émile" are one
-- name. Open fills it for accounts made before it; an account whose name
-- has no key, or the key of an older account's, keeps NULL and signs in
-- only by its exact name.
ALTER TABLE users ADD COLUMN name_key TEXT;
CREATE UNIQUE INDEX users_name_key ON users (name_key);
