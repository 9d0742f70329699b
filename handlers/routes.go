package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/auth"
	"github.com/beacon-live/beacon/limit"
)

// routes lists every route of Beacon on one screen. Streams and sockets are
// marked streaming (not timed or logged as requests) and get no compression
// or timeout middleware: both would hold events back.
//
// Who may do what: the dashboard (and a metric's chart page) and the rooms
// are for members unless Access.PublicDashboard (the rooms also when guests
// may post); only an admin deletes a metric's series; and every form POST
// carries its CSRF token (checkCSRF) and answers with a redirect (a secret
// to show once travels in a flash: flash.go). The one GET that changes
// something, a notification's link, marks read only its owner's
// notification and only from Beacon's own pages (handleOpenNotification). Account pages need a
// session (requireUser). /live authorizes each topic (a user's topic is its
// owner's only, the server panel's an admin's). /api/ needs a bearer token
// with the route's scope (and ingest and notify scopes an admin's token).
// Widgets need their token, checked against its stored revocation on every
// request. New live connections and API requests are limited per address.
// A room socket must come from this server's origin, unless a program
// opens it with a chat token instead of a cookie (bearerAccount says why
// that is safe), as /live takes a read token; with a public URL every
// request must name its host (Site.checkHost, in NewServer).
func (s *Server) routes(e *echo.Echo) {
	a, ip := s.accounts, s.Limits.clientIP
	liveLimit := perAddress(limit.New(s.Limits.LiveRate, s.Limits.LiveBurst), ip, "new live connections")
	apiLimit := perAddress(limit.New(s.Limits.APIRate, s.Limits.APIBurst), ip, "API requests")
	rooms := &roomPages{history: s.Store, online: s.Presence, unread: s.Store, users: s.Store,
		epoch: s.Hub.Epoch(), guests: s.Accounts.Guests, reads: s.Store, log: s.Logger}
	index := &roomsIndex{dir: s.Directory, reads: s.Store, unread: s.Store, log: s.Store, epoch: s.Hub.Epoch()}
	set := &settings{tokens: s.Store, widgets: s.Store, widgetConns: s.widgets, tokenConns: s.tokenConns, accounts: a,
		unread: s.Store, epoch: s.Hub.Epoch(), flash: s.flash}
	open := topicAccess{dashboard: s.Access.PublicDashboard, rooms: s.Access.PublicDashboard || s.Accounts.Guests, guests: s.Accounts.Guests}
	dashboard, roomsOpen := membersOnly(open.dashboard), membersOnly(open.rooms)

	e.GET("/", handleDashboard(s.Board, s.Store, s.Store, s.Presence, s.Streams, s.Hub.Epoch()), dashboard, visitor)
	e.GET("/charts/:name", handleSeriesPage(s.Board, s.Store, s.Store, s.Hub.Epoch()), dashboard, visitor)
	e.POST("/charts/:name/delete", handleDeleteSeries(s.Board, s.Store), requireUser, checkCSRF)
	held := conns{sessions: s.live, tokens: s.tokenConns}
	e.GET("/live", handleLive(s.SSE, held, open, s.Logger), streaming, liveLimit, bearerAccount(s.Store, auth.ScopeRead), visitor)

	e.GET("/rooms", index.handleIndex, roomsOpen, visitor)
	e.POST("/rooms/:room/read", index.handleRead, requireUser, checkCSRF)
	e.GET("/rooms/:room", rooms.handleRoom, roomsOpen, visitor)
	e.POST("/rooms/:room/name", rooms.handleChooseName, checkCSRF)
	e.GET("/rooms/:room/ws", handleRoomSocket(s.WS, s.Rooms, s.Store, s.Store, held, s.Accounts.Guests, s.Chat, s.chatRate, s.Logger),
		streaming, liveLimit, bearerAccount(s.Store, auth.ScopeChat), s.Site.checkSocketOrigin)
	e.GET("/api/rooms/:room/messages", handleHistory(s.Store), apiLimit, roomsOpen)

	e.GET("/signup", a.handleSignupPage)
	e.POST("/signup", a.handleSignup, checkCSRF)
	e.GET("/login", a.handleLoginPage)
	e.POST("/login", a.handleLogin, checkCSRF)
	e.POST("/logout", a.handleLogout, checkCSRF)

	e.GET("/notifications", handleNotificationsPage(s.Store, s.Hub.Epoch()), requireUser)
	e.POST("/notifications/read", handleMarkRead(s.Store), requireUser, checkCSRF)
	e.POST("/notifications/:pos/read", handleMarkRead(s.Store), requireUser, checkCSRF)
	e.GET("/notifications/:pos/open", handleOpenNotification(s.Store), requireUser)

	e.GET("/settings", set.handlePage, requireUser)
	e.POST("/settings/tokens", set.handleCreateToken, requireUser, checkCSRF)
	e.POST("/settings/tokens/:id/revoke", set.handleRevokeToken, requireUser, checkCSRF)
	e.POST("/settings/sessions/:id/revoke", set.handleRevokeSession, requireUser, checkCSRF)
	e.POST("/settings/widgets/:id/revoke", set.handleRevokeWidget, requireUser, checkCSRF)

	api := e.Group("/api", apiLimit)
	api.POST("/metrics", handleIngestMetric(s.Store, s.Board), requireScope(s.Store, auth.ScopeMetrics))
	api.POST("/activity", handleIngestActivity(s.Store), requireScope(s.Store, auth.ScopeActivity))
	api.POST("/notifications", handleNotify(s.Store), requireScope(s.Store, auth.ScopeNotify))
	api.POST("/rooms/:room/messages", handlePostMessage(s.Store, s.chatRate, s.Chat, s.Hub.Epoch(), s.Logger), requireScope(s.Store, auth.ScopeChat))

	s.embedRoutes(e, liveLimit)
	e.POST("/embed/tokens", handleMintWidgetToken(s.Secret, s.Store, s.Site, s.flash), checkCSRF)
	e.GET("/embed/tokens", handleNewWidgetToken(s.Secret, s.Site, s.flash), requireUser)

	if !s.InternalListener {
		internalRoutes(e, s.Store, s.Cluster, s.Metrics, loopbackOnly)
	}
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", staticFiles())))
}

// internalRoutes are the operator's: health and Prometheus metrics. With
// --metrics-addr they have a listener of their own (NewInternal); without,
// the main listener serves them to this machine only (loopbackOnly).
func internalRoutes(e *echo.Echo, store healthReader, cluster Checker, metrics http.Handler, mw ...echo.MiddlewareFunc) {
	e.GET("/healthz", handleHealth(store, cluster), mw...)
	e.GET("/metrics", echo.WrapHandler(metrics), mw...)
}
