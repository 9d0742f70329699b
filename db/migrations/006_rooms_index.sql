-- rooms sums up every room that has messages: how many, and the position of
-- the newest. The command that adds a message keeps it, so the rooms index
-- lists rooms newest first without counting the messages table.
CREATE TABLE rooms (
    name          TEXT    PRIMARY KEY,
    messages      INTEGER NOT NULL,
    last_position INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX rooms_last_position ON rooms (last_position);
INSERT INTO rooms (name, messages, last_position)
    SELECT room, COUNT(*), MAX(position) FROM messages GROUP BY room;

-- room_reads is how far each account has read each room it opened or posted
-- in: the position of the newest message it has seen. Its unread count is
-- the messages by others after it. Posting counts as reading up to one's
-- own message, so accounts that posted before this table read up to there.
CREATE TABLE room_reads (
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room     TEXT    NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (user_id, room)
) STRICT, WITHOUT ROWID;
INSERT INTO room_reads (user_id, room, position)
    SELECT user_id, room, MAX(position) FROM messages
    WHERE user_id IN (SELECT id FROM users) GROUP BY user_id, room;

-- Counting a room's unread messages reads its messages after a position and
-- skips the reader's own: with the author in the index, the count never
-- reads the table itself.
DROP INDEX messages_room_position;
CREATE INDEX messages_room_position ON messages (room, position, user_id);
