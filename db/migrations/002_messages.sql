-- messages are chat messages; position is their event's position in the log
-- (topic "room:<name>"), so history and live updates share one order. No
-- foreign key: pruning the log leaves history alone.
CREATE TABLE messages (
    position   INTEGER PRIMARY KEY,
    room       TEXT    NOT NULL,
    author     TEXT    NOT NULL,
    content    TEXT    NOT NULL,
    created_at INTEGER NOT NULL -- unix ms
) STRICT;
CREATE INDEX messages_room_position ON messages (room, position);
