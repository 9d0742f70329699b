-- meta holds facts about the database itself; the Go code adds the epoch
-- (a random id made when the database is created) in the same transaction.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- events is the durable log shared by every log topic. AUTOINCREMENT so a
-- position is never reused, even after the oldest events are pruned.
CREATE TABLE events (
    position   INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    data       BLOB    NOT NULL,
    created_at INTEGER NOT NULL -- unix ms
) STRICT;
CREATE INDEX events_topic_position ON events (topic, position);

-- activities outlive their events: position is the event's position, but
-- there is no foreign key, so pruning the log leaves the feed alone.
CREATE TABLE activities (
    position   INTEGER PRIMARY KEY,
    text       TEXT    NOT NULL,
    link       TEXT    NOT NULL,
    created_at INTEGER NOT NULL -- unix ms
) STRICT;

-- samples of posted metrics: state, not a log, so no event rows.
CREATE TABLE samples (
    id    INTEGER PRIMARY KEY,
    name  TEXT    NOT NULL,
    value REAL    NOT NULL,
    unit  TEXT    NOT NULL,
    at    INTEGER NOT NULL -- unix ms
) STRICT;
CREATE INDEX samples_at ON samples (at);
CREATE INDEX samples_name_at ON samples (name, at);
