package handlers

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/limit"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/names"
	"github.com/beacon-live/beacon/rooms"
	"github.com/beacon-live/beacon/views"
)

// ChatLimits are the limits of chat rooms.
type ChatLimits struct {
	// MessageBytes is the largest message content accepted. Default 4 KiB.
	MessageBytes int
	// Rate and Burst limit the messages one account may send, across all
	// its connections; a guest's count per client address, across its
	// connections and widget posts. Default 10 a second, bursts of 20.
	Rate  float64
	Burst int
}

func (l *ChatLimits) fill() {
	if l.MessageBytes <= 0 {
		l.MessageBytes = 4 << 10
	}
	if l.Rate <= 0 {
		l.Rate = 10
	}
	if l.Burst <= 0 {
		l.Burst = 20
	}
}

// chatRate limits the chat messages of each poster, whichever connection
// or widget they come through: one account, or, for guests (who have no
// account to count against), one client address as the other per-address
// limits count it (clientIP).
type chatRate struct {
	keyed    *limit.Keyed
	rate     float64 // for the refusal's message
	clientIP func(*http.Request) string
}

func newChatRate(l ChatLimits, clientIP func(*http.Request) string) *chatRate {
	l.fill()
	return &chatRate{keyed: limit.New(l.Rate, l.Burst), rate: l.Rate, clientIP: clientIP}
}

// keyOf returns whom a request's messages count against: its account (a
// session's, or a chat token's owner), or its address when signed out.
func (r *chatRate) keyOf(c echo.Context) string {
	if a, ok := accountOf(c); ok && a.ID != 0 {
		return views.TopicUser(a.ID)
	}
	return r.guestKey(c.Request())
}

// guestKey is what a guest's messages count against: its address.
func (r *chatRate) guestKey(req *http.Request) string { return "guest:" + r.clientIP(req) }

// allow takes a token for key now, or says why not.
func (r *chatRate) allow(key string) *fieldError {
	if ok, _ := r.keyed.Allow(key, time.Now()); !ok {
		return &fieldError{Status: http.StatusTooManyRequests, Field: "content",
			Message: fmt.Sprintf("too fast: at most %g messages a second; this one was not sent", r.rate)}
	}
	return nil
}

// SubprotocolJSON selects the JSON mode of a room's WebSocket, for programs.
const SubprotocolJSON = "beacon.v1.json"

const nameCookie = "beacon_name"

var roomName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// checkRoom validates a room name from a URL.
func checkRoom(name string) error {
	if !roomName.MatchString(name) {
		return badField("room", "a room name is 1 to 64 letters, digits, - or _ (got %q)", truncate(name, 80))
	}
	return nil
}

// checkDisplayName validates a guest's display name (guestName).
func checkDisplayName(name string) error {
	_, err := guestName(name)
	return err
}

// guestName prepares a guest's display name (names.Guest: 1–32 letters,
// digits, spaces and . _ -, in one script) and returns the form to show.
func guestName(name string) (string, error) {
	n, err := names.Guest(name)
	if err != nil {
		return "", nameError(err)
	}
	return n.Display, nil
}

// nameError is a refusal from package names as a field error.
func nameError(err error) error {
	var ne *names.Error
	if errors.As(err, &ne) {
		return badField("name", "%s", ne.Reason)
	}
	return err
}

// displayName returns the browser's chosen name, or "".
func displayName(c echo.Context) string {
	ck, err := c.Cookie(cookieName(c, nameCookie))
	if err != nil {
		return ""
	}
	name, err := url.QueryUnescape(ck.Value)
	if err != nil {
		return ""
	}
	name, _ = guestName(name)
	return name
}

// historyReader reads a room's messages.
type historyReader interface {
	Messages(ctx context.Context, room string, before int64, limit int) ([]db.Message, int64, error)
}

// onlineReader says who is online in a room.
type onlineReader interface {
	Online(room string) []string
}

// roomPages serves a room's page and its name form.
type roomPages struct {
	history historyReader
	online  onlineReader
	unread  unreadReader
	users   userFinder
	epoch   string
	guests  bool // signed-out visitors may post under a chosen name
	reads   roomReads
	log     *slog.Logger
}

// handleRoom serves GET /rooms/:room: the last messages rendered on the
// server, who is online, and the message form (or the name form, or a link
// to sign in). The page's socket starts exactly after the position its
// history was read at.
func (p *roomPages) handleRoom(c echo.Context) error {
	name, before, err := roomAndBefore(c)
	if err != nil {
		return err
	}
	user := ""
	if s := sessionOf(c); s != nil {
		user = s.User.Name
	} else if p.guests {
		user = displayName(c)
	}
	return p.render(c, http.StatusOK, name, before, user, "")
}

// render renders a room page for user (empty for a viewer).
func (p *roomPages) render(c echo.Context, status int, name string, before int64, user, nameError string) error {
	msgs, head, err := p.history.Messages(c.Request().Context(), name, before, views.HistoryPage)
	if err != nil {
		return err
	}
	page, bellHead, err := pageFor(c, p.unread, "#"+name)
	if err != nil {
		return err
	}
	if before == 0 && page.Viewer.SignedIn() {
		markOpened(c.Request().Context(), p.reads, p.log, page.Viewer.ID, name, msgs)
	}
	head = min(head, bellHead)
	r := views.Room{
		Page:      page,
		Name:      name,
		Messages:  messageViews(msgs),
		Online:    p.online.Online(name),
		User:      user,
		Guests:    p.guests,
		NameError: nameError,
	}
	if len(msgs) == views.HistoryPage {
		r.Earlier = msgs[0].Position
	}
	topics := []string{views.TopicRoom(name), views.TopicPresence(name), views.TopicTyping(name)}
	if page.Viewer.SignedIn() {
		topics = append(topics, views.TopicUser(page.Viewer.ID))
	}
	if before > 0 {
		// An older page is a look back; it does not go live.
		r.User, r.LookBack = "", true
	} else if r.User != "" {
		r.SocketURL = "/rooms/" + name + "/ws?after=" + url.QueryEscape(live.FormatID(p.epoch, head))
	} else {
		r.LiveURL = liveURL(topics, p.epoch, head)
	}
	return render(c, status, views.RoomPage(r))
}

// handleOpenRoom serves GET /rooms?name=…, the dashboard's "open a room" form.
func handleOpenRoom(c echo.Context) error {
	name := strings.TrimSpace(c.QueryParam("name"))
	if err := checkRoom(name); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/rooms/"+name)
}

// handleChooseName serves POST /rooms/:room/name (when guests may post):
// it keeps the display name in a cookie and goes back to the room. A
// refused name shows the room again with the reason next to the form.
func (p *roomPages) handleChooseName(c echo.Context) error {
	room := c.Param("room")
	if err := checkRoom(room); err != nil {
		return err
	}
	if !p.guests {
		return &fieldError{Status: http.StatusForbidden, Field: "name", Message: "sign in to post in rooms; this server does not let guests post"}
	}
	name, err := checkGuestName(c.Request().Context(), p.users, strings.TrimSpace(c.FormValue("name")))
	if err != nil {
		var fe *fieldError
		if !errors.As(err, &fe) {
			return err
		}
		return p.render(c, cmp.Or(fe.Status, http.StatusBadRequest), room, 0, "", "Your name "+fe.Message+".")
	}
	c.SetCookie(&http.Cookie{
		Name: cookieName(c, nameCookie), Value: url.QueryEscape(name), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: isSecure(c), MaxAge: 365 * 24 * 3600,
	})
	return c.Redirect(http.StatusSeeOther, "/rooms/"+room)
}

// userFinder looks accounts up by name.
type userFinder interface {
	UserByName(ctx context.Context, name string) (db.User, error)
}

// checkGuestName prepares a guest's display name (guestName), which must
// not be an account's in any form (the store compares names by their
// keys): a guest cannot pass for a member. It returns the form to show.
func checkGuestName(ctx context.Context, users userFinder, name string) (string, error) {
	name, err := guestName(name)
	if err != nil {
		return "", err
	}
	_, err = users.UserByName(ctx, name)
	switch {
	case err == nil:
		return "", &fieldError{Status: http.StatusConflict, Field: "name", Message: "belongs to an account; sign in to use it, or choose another"}
	case errors.Is(err, db.ErrNotFound):
		return name, nil
	}
	return "", err
}

// historyBody is the JSON answer of the history API.
type historyBody struct {
	Messages []db.Message `json:"messages"`
	// Before is the value of ?before= for the page before this one; 0 when
	// this page starts the history.
	Before int64 `json:"before"`
}

// handleHistory serves GET /api/rooms/:room/messages?before=&limit=: a page
// of history, oldest first, paged backwards by position.
func handleHistory(history historyReader) echo.HandlerFunc {
	return func(c echo.Context) error {
		name, before, err := roomAndBefore(c)
		if err != nil {
			return err
		}
		limit := 50
		if s := c.QueryParam("limit"); s != "" {
			if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 500 {
				return badField("limit", "must be a whole number from 1 to 500")
			}
		}
		msgs, _, err := history.Messages(c.Request().Context(), name, before, limit)
		if err != nil {
			return err
		}
		body := historyBody{Messages: msgs}
		if body.Messages == nil {
			body.Messages = []db.Message{}
		}
		if len(msgs) == limit {
			body.Before = msgs[0].Position
		}
		return c.JSON(http.StatusOK, body)
	}
}

// roomAndBefore reads the room name from the path and the optional
// ?before= position that pages history backwards.
func roomAndBefore(c echo.Context) (string, int64, error) {
	name := c.Param("room")
	if err := checkRoom(name); err != nil {
		return "", 0, err
	}
	before, err := optionalPosition(c.QueryParam("before"), "before")
	return name, before, err
}

func optionalPosition(s, field string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	p, err := strconv.ParseInt(s, 10, 64)
	if err != nil || p < 1 {
		return 0, badField(field, "must be a message position (a whole number above 0)")
	}
	return p, nil
}

// messageAdder stores a chat message and publishes it after commit.
type messageAdder interface {
	AddMessageAs(ctx context.Context, room string, userID int64, user, content string, at time.Time) (db.Message, error)
}

// roomJoiner admits connections to rooms.
type roomJoiner interface {
	Join(room, user string) (*rooms.Member, error)
}

// chatIn is one message a client sends: {"type":"chat","content":…} or
// {"type":"typing"}. Pages (htmx) also send "headers", which is ignored.
type chatIn struct {
	Type    string `json:"type"`
	Content string `json:"content"`
}

// decodeChat decodes and validates one incoming socket message.
func decodeChat(data []byte, maxBytes int) (chatIn, error) {
	var in struct {
		Type    string          `json:"type"`
		Content *string         `json:"content"`
		Headers json.RawMessage `json:"headers"`
	}
	if err := decodeJSON(data, &in); err != nil {
		return chatIn{}, err
	}
	switch in.Type {
	case "typing":
		return chatIn{Type: "typing"}, nil
	case "chat":
	case "":
		return chatIn{}, badField("type", `is required: "chat" or "typing"`)
	default:
		return chatIn{}, badField("type", `must be "chat" or "typing" (got %q)`, truncate(in.Type, 32))
	}
	if in.Content == nil {
		return chatIn{}, badField("content", "is required")
	}
	content, err := checkContent(*in.Content, maxBytes)
	if err != nil {
		return chatIn{}, err
	}
	return chatIn{Type: "chat", Content: content}, nil
}

// checkContent validates a chat message's text, from a socket or a widget's
// form, and returns it trimmed, with every CRLF made LF (what a form's
// textarea sends). A message may have several lines and tabs; every other
// control character (C0, DEL, C1 such as U+0085, a CR on its own) is
// refused, as in every other field: none is text a person means to show,
// and some rewrite a terminal that prints the log or the history.
func checkContent(s string, maxBytes int) (string, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	switch {
	case s == "":
		return "", badField("content", "is empty")
	case len(s) > maxBytes:
		return "", badField("content", "is longer than %d KiB", maxBytes>>10)
	case !utf8.ValidString(s):
		return "", badField("content", "is not valid UTF-8")
	}
	n := 0
	for _, r := range s {
		n++
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return "", badField("content", "holds the control character %U at character %d; only new lines and tabs may be sent", r, n)
		}
	}
	return s, nil
}

// errNoUpgrade answers a request for a room socket that is no WebSocket
// upgrade: usually a reverse proxy that does not pass the upgrade on.
var errNoUpgrade = &fieldError{Status: http.StatusBadRequest, Field: "Upgrade",
	Message: "this request for a WebSocket reached Beacon without its upgrade (Upgrade: websocket, Connection: upgrade); " +
		"a reverse proxy in front must pass both (nginx: proxy_http_version 1.1 and proxy_set_header Upgrade and Connection; see docs/deploy.md)"}

// socketUpgrader upgrades room sockets. The route's Site.checkSocketOrigin
// has checked the Origin of every upgrade (scheme, host and port, or the
// public URL) and answered a foreign one with the reason, so no other site
// can open a socket with a visitor's cookies.
var socketUpgrader = websocket.Upgrader{
	ReadBufferSize: 1024,
	// live writes the frames itself; what gorilla writes (a refusal before
	// the socket is handed to live) borrows a buffer only while it writes.
	WriteBufferPool: &sync.Pool{},
	Subprotocols:    []string{SubprotocolJSON},
	CheckOrigin:     func(*http.Request) bool { return true },
}

// handleRoomSocket serves GET /rooms/:room/ws. The page sends its form over
// it and gets HTML fragments back; programs choosing the beacon.v1.json
// subprotocol get JSON, and may come with a token of scope chat instead of
// a cookie (bearerAccount). A reconnecting socket sends ?after=<its last
// id> and is replayed what it missed.
func handleRoomSocket(ws *live.WS, reg roomJoiner, store messageAdder, users userFinder, held conns,
	guests bool, limits ChatLimits, chat *chatRate, log *slog.Logger) echo.HandlerFunc {
	limits.fill()
	return func(c echo.Context) error {
		room := c.Param("room")
		if err := checkRoom(room); err != nil {
			return err
		}
		user, userID, err := chatIdentity(c, guests, users)
		if err != nil {
			return err
		}
		if !websocket.IsWebSocketUpgrade(c.Request()) {
			if c.Request().Header.Get(views.HeaderSocketCheck) != "" {
				// The page's socket check: nothing before the upgrade
				// refuses this socket (a full room says so after it).
				return c.JSON(http.StatusOK, map[string]bool{"ok": true})
			}
			return errNoUpgrade
		}
		// The socket belongs to its session (or token) from before the
		// upgrade, so a sign-out or a revocation at any moment after it was
		// read ends it. It outlives this handler: its context is one of its
		// own.
		topics := []string{views.TopicRoom(room), views.TopicPresence(room), views.TopicTyping(room)}
		acct, signedIn := accountOf(c)
		ctx, release := held.hold(context.WithoutCancel(c.Request().Context()), acct, signedIn)
		if signedIn {
			topics = append(topics, views.TopicUser(acct.ID))
		}
		conn, err := socketUpgrader.Upgrade(c.Response(), c.Request(), nil)
		if err != nil {
			release()
			return nil // the upgrader has answered (400)
		}
		mode := live.ModeHTML
		if conn.Subprotocol() == SubprotocolJSON {
			mode = live.ModeJSON
		}
		s := &socket{conn: conn, room: room, user: user, userID: userID, mode: mode, limits: limits, store: store, log: log,
			rate: chat, rateKey: chat.keyOf(c)}
		member, err := reg.Join(room, user)
		if err != nil {
			release()
			s.refuse(err)
			return nil
		}
		s.member = member
		req := live.WSRequest{
			Request: live.Request{
				Topics: topics,
				Resume: c.QueryParam("after"),
				User:   chatUserKey(userID, user),
			},
			Mode:  mode,
			Hello: s.hello,
		}
		if signedIn {
			// Signing out (or revoking the token) closes it with 1008, so
			// the page or program does not just come back. The writer sends
			// it: it is the socket's only writer.
			req.Context, req.EndCode, req.EndReason = ctx, websocket.ClosePolicyViolation, "signed out"
			if acct.Token != 0 {
				req.EndReason = "token revoked"
			}
		}
		wc, err := ws.Open(ctx, conn, req)
		if err != nil {
			member.Leave()
			release()
			conn.Close()
			return nil
		}
		s.out = wc
		// The reading loop runs on a goroutine of its own, which starts
		// with a small stack, and the handler returns, so that net/http's
		// goroutine, its buffers, the request and the echo context are
		// freed: a socket costs this one goroutine. It ends when the socket
		// closes (the client leaves, or live ends the connection).
		go func() {
			defer release()
			defer member.Leave()
			defer wc.Close()
			s.read(ctx)
		}()
		return nil
	}
}

// chatIdentity says who a socket posts as: the signed-in account (or a
// chat token's owner), or, when guests may post, the name chosen on the
// page (cookie) or by a program (?name=), which must not be an account's.
func chatIdentity(c echo.Context, guests bool, users userFinder) (string, int64, error) {
	if a, ok := accountOf(c); ok {
		if a.ID == 0 {
			return "", 0, errServerTokenChat
		}
		return a.Name, a.ID, nil
	}
	if !guests {
		return "", 0, &fieldError{Status: http.StatusUnauthorized, Field: "session",
			Message: "sign in to post in rooms (signed-out visitors may read a room's page but not post)"}
	}
	name := displayName(c)
	if q := strings.TrimSpace(c.QueryParam("name")); q != "" {
		name = q
	}
	if name == "" {
		return "", 0, &fieldError{Status: http.StatusUnauthorized, Field: "name",
			Message: "choose a display name first (the room page's form, or ?name= for programs)"}
	}
	name, err := checkGuestName(c.Request().Context(), users, name)
	if err != nil {
		return "", 0, err
	}
	return name, 0, nil
}

// socket is the reading side of one room connection.
type socket struct {
	conn   *websocket.Conn
	room   string
	user   string
	userID int64 // 0 for a guest
	mode   live.Mode
	limits ChatLimits
	store  messageAdder
	member *rooms.Member
	out    *live.Conn
	log    *slog.Logger

	// rate counts this socket's messages against rateKey, with every other
	// connection of the same account (or guest address).
	rate    *chatRate
	rateKey string
}

// Read limits of a socket: a message larger than this closes the
// connection (1009); smaller ones over the content limit get an error frame.
const (
	socketReadLimit = 64 << 10
	socketIdle      = 60 * time.Second // no message or pong for this long ends the connection
)

// read is the connection's reading loop; it runs on a goroutine of its own
// until the client leaves or the writer stops.
func (s *socket) read(ctx context.Context) {
	s.conn.SetReadLimit(socketReadLimit)
	s.conn.SetReadDeadline(time.Now().Add(socketIdle)) //nolint:errcheck // a dead socket fails the next read
	s.conn.SetPongHandler(func(string) error {
		return s.conn.SetReadDeadline(time.Now().Add(socketIdle))
	})
	typing := rate.NewLimiter(2, 4) // clients throttle to one a second; this only stops floods
	for {
		kind, data, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		s.conn.SetReadDeadline(time.Now().Add(socketIdle)) //nolint:errcheck // as above
		if kind != websocket.TextMessage {
			s.fail(badField("body", "send text messages of JSON"))
			continue
		}
		in, err := decodeChat(data, s.limits.MessageBytes)
		if err != nil {
			s.fail(err)
			continue
		}
		if in.Type == "typing" {
			if typing.Allow() {
				s.member.Typing()
			}
			continue
		}
		if err := s.rate.allow(s.rateKey); err != nil {
			s.fail(err)
			continue
		}
		if _, err := s.store.AddMessageAs(ctx, s.room, s.userID, s.user, in.Content, time.Now()); err != nil {
			if !errors.Is(err, context.Canceled) {
				s.log.Error("store message", "room", s.room, "err", err)
			}
			s.fail(errors.New("the message could not be stored; try again"))
			continue
		}
		s.member.StopTyping()
		if s.mode == live.ModeHTML {
			s.out.Send(htmlMessage(views.ChatForm(true)))
		}
	}
}

// fail tells the client why its message was refused; the connection stays.
func (s *socket) fail(err error) {
	_, body := classify(err)
	if body.Error == "internal error" {
		body.Error = err.Error()
	}
	var msg []byte
	if s.mode == live.ModeJSON {
		msg, _ = json.Marshal(map[string]string{"type": "error", "error": body.Error, "field": body.Field})
	} else {
		text := body.Error
		if body.Field != "" && body.Field != "body" {
			text = body.Field + " " + text
		}
		msg = htmlMessage(views.ChatError(text))
	}
	if s.out != nil {
		s.out.Send(msg)
	}
}

// refuse closes a socket that may not join: the page shows the reason.
func (s *socket) refuse(err error) {
	code, reason := websocket.ClosePolicyViolation, "this room is full; try again later"
	if errors.Is(err, rooms.ErrTooManyRooms) {
		reason = "the server has as many chat rooms open as it holds; try again later, or join a room that is already open"
	}
	if errors.Is(err, rooms.ErrClosed) {
		code, reason = live.CloseServiceRestart, "server restarting; reconnect"
	} else {
		// hx-ws does not hand the close reason to the page: say it first.
		s.conn.SetWriteDeadline(time.Now().Add(time.Second)) //nolint:errcheck // the write fails then
		if s.mode == live.ModeJSON {
			b, _ := json.Marshal(map[string]string{"type": "error", "error": reason})
			s.conn.WriteMessage(websocket.TextMessage, b) //nolint:errcheck // closing next
		} else {
			s.conn.WriteMessage(websocket.TextMessage, htmlMessage(views.ChatError(reason))) //nolint:errcheck // closing next
		}
	}
	msg := websocket.FormatCloseMessage(code, reason)
	s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)) //nolint:errcheck // closing next
	s.conn.Close()
}

// hello is the first message after the client is up to date.
func (s *socket) hello(id string, resynced bool) []byte {
	if s.mode == live.ModeJSON {
		b, _ := json.Marshal(map[string]any{"type": "welcome", "room": s.room, "user": s.user, "id": id, "resynced": resynced})
		return b
	}
	b, _ := json.Marshal(map[string]any{"id": id})
	return b
}

// htmlMessage renders c as a page-mode socket message: {"content": html}.
func htmlMessage(c templ.Component) []byte {
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		return nil
	}
	b, _ := json.Marshal(map[string]string{"content": buf.String()})
	return b
}

// messageViews converts stored messages for the views.
func messageViews(msgs []db.Message) []views.Message {
	out := make([]views.Message, len(msgs))
	for i, m := range msgs {
		out[i] = views.Message{Position: m.Position, User: m.User, Guest: m.UserID == 0, Content: m.Content, At: m.At}
	}
	return out
}

// render writes a whole page.
func render(c echo.Context, status int, comp templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return comp.Render(c.Request().Context(), c.Response())
}

// RoomOutput publishes what rooms report: who is online and who is typing,
// as fragments for pages and JSON for programs, and the dashboard's list of
// active rooms. It never reads the registry: the registry hands it all.
type RoomOutput struct {
	Hub framePublisher
	Log *slog.Logger
	// Directory, when set, hears who is in each room, for the rooms index.
	Directory *Directory
}

// framePublisher is what RoomOutput needs of the hub.
type framePublisher interface {
	Publish(f live.Frame)
	Forget(topic string)
}

var _ rooms.Output = (*RoomOutput)(nil)

// Presence implements rooms.Output.
func (o *RoomOutput) Presence(room string, online []string) {
	if o.Directory != nil {
		o.Directory.RoomPresence(room, online)
	}
	o.publish(views.TopicPresence(room), views.OnlineList(online, true),
		map[string]any{"type": "presence", "room": room, "online": nonNil(online)})
}

// Rooms implements rooms.Output: the dashboard's Rooms panel.
func (o *RoomOutput) Rooms(active []rooms.Summary) {
	list, more := busiestRooms(active)
	o.publish(views.TopicRooms, views.RoomsPanel(list, more, true), nil)
}

// Typing implements rooms.Output.
func (o *RoomOutput) Typing(room string, typing []string) {
	o.publish(views.TopicTyping(room), views.TypingLine(typing, true),
		map[string]any{"type": "typing", "room": room, "typing": nonNil(typing)})
}

// Stopped implements rooms.Output: the hub forgets the room's state frames.
func (o *RoomOutput) Stopped(room string) {
	if o.Directory != nil {
		o.Directory.RoomPresence(room, nil)
	}
	o.Hub.Forget(views.TopicPresence(room))
	o.Hub.Forget(views.TopicTyping(room))
}

func (o *RoomOutput) publish(topic string, c templ.Component, js any) {
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		o.Log.Error("render room fragment", "topic", topic, "err", err)
		return
	}
	f := live.Frame{Topic: topic, Data: buf.Bytes(), At: time.Now()}
	if js != nil {
		f.JSON, _ = json.Marshal(js)
	}
	o.Hub.Publish(f)
}

// busiestRooms returns the Rooms panel's list: the views.RoomsShown rooms
// with the most people online (by name among equals), and how many other
// rooms have people online.
func busiestRooms(rs []rooms.Summary) (list []views.RoomSummary, more int) {
	out := make([]views.RoomSummary, 0, len(rs))
	for _, r := range rs {
		if r.Online > 0 {
			out = append(out, views.RoomSummary{Name: r.Name, Online: r.Online})
		}
	}
	slices.SortFunc(out, func(a, b views.RoomSummary) int {
		return cmp.Or(cmp.Compare(b.Online, a.Online), strings.Compare(a.Name, b.Name))
	})
	if len(out) > views.RoomsShown {
		return out[:views.RoomsShown], len(out) - views.RoomsShown
	}
	return out, 0
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
