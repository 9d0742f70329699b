package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The reference server's rooms are gorilla/websocket's chat example, as a
// careful engineer adapts it in an afternoon: one hub goroutine that owns
// every room's members and broadcasts each message to every member's
// buffered channel (a member that falls 256 messages behind is dropped),
// and two goroutines per member: one reads its messages, one writes every
// queued message as a WebSocket message of its own and pings. It speaks
// Beacon's JSON subprotocol (a welcome once joined, a "message" per chat
// message, the same fields) so that the room scenarios run against it
// unchanged. What it does not do, and Beacon must: store messages, resume,
// presence, typing, limits, coalesce frames into one write.

// refRoomQueue is how many messages may wait for one member.
const refRoomQueue = 256

// refMember is one member's socket and its queue.
type refMember struct {
	room string
	send chan []byte
}

// refRooms owns the members of every room; everything else talks to it
// through its channels and also selects on done.
type refRooms struct {
	join, leave chan *refMember
	broadcast   chan refRoomMsg
	done        chan struct{}
	seq         atomic.Int64
}

type refRoomMsg struct {
	room string
	msg  []byte
}

func newRefRooms() *refRooms {
	return &refRooms{
		join: make(chan *refMember), leave: make(chan *refMember),
		broadcast: make(chan refRoomMsg, 1024), done: make(chan struct{}),
	}
}

// run owns the rooms until ctx ends.
func (h *refRooms) run(ctx context.Context) {
	defer close(h.done)
	rooms := map[string]map[*refMember]struct{}{}
	drop := func(m *refMember) {
		if members := rooms[m.room]; members != nil {
			if _, ok := members[m]; ok {
				delete(members, m)
				close(m.send)
				if len(members) == 0 {
					delete(rooms, m.room)
				}
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-h.join:
			if rooms[m.room] == nil {
				rooms[m.room] = map[*refMember]struct{}{}
			}
			rooms[m.room][m] = struct{}{}
		case m := <-h.leave:
			drop(m)
		case b := <-h.broadcast:
			for m := range rooms[b.room] {
				select {
				case m.send <- b.msg:
				default: // a slow member is dropped, not waited for
					drop(m)
				}
			}
		}
	}
}

var refUpgrader = websocket.Upgrader{
	ReadBufferSize: 1024, WriteBufferSize: 1024,
	Subprotocols: []string{wsSubprotocol},
	CheckOrigin:  func(*http.Request) bool { return true },
}

// socket serves GET /rooms/{room}/ws.
func (r *reference) socket(w http.ResponseWriter, req *http.Request) {
	room, ok := strings.CutSuffix(strings.TrimPrefix(req.URL.Path, "/rooms/"), "/ws")
	if !ok || room == "" || strings.Contains(room, "/") {
		http.NotFound(w, req)
		return
	}
	user := req.URL.Query().Get("name")
	conn, err := refUpgrader.Upgrade(w, req, nil)
	if err != nil {
		return
	}
	m := &refMember{room: room, send: make(chan []byte, refRoomQueue)}
	select {
	case r.rooms.join <- m:
	case <-r.rooms.done:
		conn.Close()
		return
	}
	r.conns.Inc()
	defer r.conns.Dec()
	welcome, _ := json.Marshal(map[string]any{"type": "welcome", "room": room, "user": user, "id": "ref-0", "resynced": false})
	m.send <- welcome
	go r.writeMember(conn, m)
	defer func() {
		select {
		case r.rooms.leave <- m:
		case <-r.rooms.done:
		}
		conn.Close()
	}()
	conn.SetReadLimit(64 << 10)
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var in struct {
			Type    string `json:"type"`
			Content string `json:"content"`
		}
		if json.Unmarshal(data, &in) != nil || in.Type != "chat" || in.Content == "" {
			continue
		}
		pos := r.rooms.seq.Add(1)
		out, _ := json.Marshal(map[string]any{"type": "message", "id": "ref-" + strconv.FormatInt(pos, 10), "position": pos,
			"room": room, "user": user, "content": in.Content, "timestamp": time.Now().UTC()})
		select {
		case r.rooms.broadcast <- refRoomMsg{room, out}:
		case <-r.rooms.done:
			return
		}
	}
}

// writeMember writes m's queued messages, one WebSocket message each, and
// a ping every 30 s, until its queue is closed.
func (r *reference) writeMember(conn *websocket.Conn, m *refMember) {
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	defer conn.Close()
	for {
		select {
		case msg, ok := <-m.send:
			conn.SetWriteDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck // the write fails then
			if !ok {
				conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "")) //nolint:errcheck // closing
				return
			}
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		case <-r.rooms.done:
			return
		case <-ping.C:
			conn.SetWriteDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck // the write fails then
			if err := conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}
