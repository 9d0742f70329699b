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
// may post); only an admin deletes a metric's series; and every
// form POST carries its CSRF token (checkCSRF). Account pages need a
// session (requireUser). /live authorizes each topic (a user's topic is its
// owner's only, the server panel's an admin's). /api/ needs a bearer token
// with the route's scope (and ingest and notify scopes an admin's token).
// Widgets need their token, checked against its stored revocation on every
// request. New live connections and API requests are limited per address.
// A room socket must come from this server's origin; with a public URL
// every request must name its host (Site.checkHost, in NewServer).
func (s *Server) routes(e *echo.Echo) {
	a, ip := s.accounts, s.Limits.clientIP
	liveLimit := perAddress(limit.New(s.Limits.LiveRate, s.Limits.LiveBurst), ip, "new live connections")
	apiLimit := perAddress(limit.New(s.Limits.APIRate, s.Limits.APIBurst), ip, "API requests")
	rooms := &roomPages{history: s.Store, online: s.Rooms, unread: s.Store, users: s.Store,
		epoch: s.Hub.Epoch(), guests: s.Accounts.Guests}
	set := &settings{tokens: s.Store, widgets: s.Store, widgetConns: s.widgets, accounts: a, unread: s.Store, epoch: s.Hub.Epoch()}
	open := topicAccess{dashboard: s.Access.PublicDashboard, rooms: s.Access.PublicDashboard || s.Accounts.Guests}
	dashboard, roomsOpen := membersOnly(open.dashboard), membersOnly(open.rooms)

	e.GET("/", handleDashboard(s.Board, s.Store, s.Store, s.Rooms, s.Streams, s.Hub.Epoch()), dashboard, visitor)
	e.GET("/charts/:name", handleSeriesPage(s.Board, s.Store, s.Store, s.Hub.Epoch()), dashboard, visitor)
	e.POST("/charts/:name/delete", handleDeleteSeries(s.Board, s.Store), requireUser, checkCSRF)
	e.GET("/live", handleLive(s.SSE, s.live, open, s.Logger), streaming, liveLimit, visitor)

	e.GET("/rooms", handleOpenRoom)
	e.GET("/rooms/:room", rooms.handleRoom, roomsOpen, visitor)
	e.POST("/rooms/:room/name", rooms.handleChooseName, checkCSRF)
	e.GET("/rooms/:room/ws", handleRoomSocket(s.WS, s.Rooms, s.Store, s.Store, s.live, s.Accounts.Guests, s.Chat, s.chatRate, s.Logger),
		streaming, liveLimit, s.Site.checkSocketOrigin)
	e.GET("/api/rooms/:room/messages", handleHistory(s.Store), apiLimit, roomsOpen)

	e.GET("/signup", a.handleSignupPage)
	e.POST("/signup", a.handleSignup, checkCSRF)
	e.GET("/login", a.handleLoginPage)
	e.POST("/login", a.handleLogin, checkCSRF)
	e.POST("/logout", a.handleLogout, checkCSRF)

	e.GET("/notifications", handleNotificationsPage(s.Store, s.Hub.Epoch()), requireUser)
	e.POST("/notifications/read", handleMarkRead(s.Store), requireUser, checkCSRF)
	e.POST("/notifications/:pos/read", handleMarkRead(s.Store), requireUser, checkCSRF)

	e.GET("/settings", set.handlePage, requireUser)
	e.POST("/settings/tokens", set.handleCreateToken, requireUser, checkCSRF)
	e.POST("/settings/tokens/:id/revoke", set.handleRevokeToken, requireUser, checkCSRF)
	e.POST("/settings/sessions/:id/revoke", set.handleRevokeSession, requireUser, checkCSRF)
	e.POST("/settings/widgets/:id/revoke", set.handleRevokeWidget, requireUser, checkCSRF)

	api := e.Group("/api", apiLimit)
	api.POST("/metrics", handleIngestMetric(s.Store, s.Board), requireScope(s.Store, auth.ScopeMetrics))
	api.POST("/activity", handleIngestActivity(s.Store), requireScope(s.Store, auth.ScopeActivity))
	api.POST("/notifications", handleNotify(s.Store), requireScope(s.Store, auth.ScopeNotify))

	s.embedRoutes(e, liveLimit)
	e.POST("/embed/tokens", handleMintWidgetToken(s.Secret, s.Store, s.Site), checkCSRF)

	if !s.InternalListener {
		internalRoutes(e, s.Store, s.Cluster, s.Metrics, loopbackOnly)
	}
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", staticFiles())))
}

// internalRoutes are the operator's: health and Prometheus metrics. With
// --metrics-addr they have a listener of their own (NewInternal); without,
// the main listener serves them to this machine only (loopbackOnly).
func internalRoutes(e *echo.Echo, store horizonReader, cluster Checker, metrics http.Handler, mw ...echo.MiddlewareFunc) {
	e.GET("/healthz", handleHealth(store, cluster), mw...)
	e.GET("/metrics", echo.WrapHandler(metrics), mw...)
}
