-- A session's CSRF token is no longer stored: it is an HMAC of the
-- session's id under a key derived from the server secret, so it is bound
-- to the session and a copy of the database does not hold it.
ALTER TABLE sessions DROP COLUMN csrf;
