// Package handlers is Beacon's HTTP surface: it turns requests into calls on
// the store, the live hub and the views. It is the only package that imports
// echo. routes.go lists every route.
package handlers

import (
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/rooms"
)

// Deps are the parts a Server is made of; cmd/beacon makes them.
type Deps struct {
	Store *db.Store
	Hub   *live.Hub
	SSE   *live.SSE
	WS    *live.WS
	Rooms *rooms.Registry
	// Presence says who is in which room, for pages (their first render)
	// and the dashboard's Rooms panel: Rooms alone, or in a cluster the
	// union of every instance's (SharedPresence).
	Presence Presence
	Chat     ChatLimits
	Accounts AccountConfig
	Limits   Limits
	Board    *Board
	Metrics  http.Handler // serves /metrics
	// Registry takes the request metrics that /metrics shows; nil keeps
	// them out of Prometheus (the dashboard still counts requests).
	Registry prometheus.Registerer
	Logger   *slog.Logger

	// Secret signs widget tokens; the key of CSRF tokens is derived from it.
	Secret []byte
	// Streams serves the zero-JavaScript widget streams and writes the
	// dashboard's streamed first render.
	Streams *live.Streams
	Embed   EmbedConfig
	// InternalListener says /metrics and /healthz have a listener of their
	// own (NewInternal, --metrics-addr), so this handler does not serve
	// them; otherwise it serves them to loopback clients only.
	InternalListener bool
	// Site is where people reach Beacon (the public URL, when set).
	Site   Site
	Access Access
	// Cluster reports the state of the cluster's log; nil when the
	// instance runs alone.
	Cluster Checker
	// Directory keeps the rooms index and the online list live; nil: a
	// directory that lists the rooms but is not live.
	Directory *Directory
}

// Presence says who is online in rooms.
type Presence interface {
	onlineReader
	activeRooms
}

// Server is Beacon's HTTP handler.
type Server struct {
	Deps
	echo     *echo.Echo
	live     *liveSessions // live connections by session id
	widgets  *liveSessions // live connections by widget token id
	accounts *accounts
	chatRate *chatRate // shared by room sockets and widget posts
	flash    flashKeys // carries new tokens from a form POST to the page its redirect shows

	// tokenConns are live connections by API token id (a tail's stream, a
	// bot's socket), ended when the token is revoked.
	tokenConns *liveSessions
}

// NewServer returns the HTTP handler of Beacon.
func NewServer(d Deps) *Server {
	if d.Presence == nil {
		d.Presence = d.Rooms
	}
	if d.Directory == nil {
		// Not live (nobody runs it), but the index still lists the rooms.
		d.Directory = NewDirectory(d.Store, d.Hub, DirectoryConfig{}, d.Logger)
	}
	s := &Server{Deps: d, live: newLiveSessions(), widgets: newLiveSessions(), tokenConns: newLiveSessions()}
	s.chatRate = newChatRate(d.Chat, d.Limits.clientIP)
	s.accounts = newAccounts(d.Store, d.Accounts, s.live, d.Limits.clientIP, d.Secret)
	s.accounts.signupClosed = d.Access.SignupClosed
	s.flash = newFlashKeys(d.Secret)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(d.Logger)
	e.Use(middleware.Recover())
	var rm *RequestMetrics
	if d.Registry != nil {
		rm = NewRequestMetrics(d.Registry)
	}
	// Everything that answers a request is inside the access log and the
	// request figures, refusals included.
	e.Use(observeRequests(d.Board.Requests(), rm, d.Logger, d.Limits.clientIP))
	e.Use(refusedConnections, securityHeaders, d.Limits.markSecure, d.Site.checkHost, limitBody)
	e.Use(s.accounts.session)
	s.routes(e)
	s.echo = e
	return s
}

// EndSession closes the live connections of session id: SSE streams end
// and room sockets close. The Publisher calls it when a session's end is
// applied.
func (s *Server) EndSession(id int64) { s.live.end(id) }

// EndWidget closes the live connections of widget token id: its /embed/live
// and /stream/ connections end. The Publisher calls it when a revocation is
// applied.
func (s *Server) EndWidget(id int64) { s.widgets.end(id) }

// EndToken closes the live connections of API token id (a tail's stream, a
// bot's socket). The Publisher calls it when a revocation is applied.
func (s *Server) EndToken(id int64) { s.tokenConns.end(id) }

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// NewInternal returns the handler of the operator's own listener
// (--metrics-addr): /healthz and /metrics, to anyone who can reach it.
func NewInternal(store *db.Store, cluster Checker, metrics http.Handler, log *slog.Logger) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(log)
	e.Use(middleware.Recover())
	internalRoutes(e, store, cluster, metrics)
	return e
}
