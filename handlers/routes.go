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
// Who may do what: pages are public, and every form POST carries its CSRF
// token (checkCSRF). Account pages need a session (requireUser). /live
// authorizes each topic (a user's topic is its owner's only). /api/ needs
// a bearer token with the route's scope. New live connections and API
// requests are limited per address.
func (s *Server) routes(e *echo.Echo) {
	a, ip := s.accounts, s.Limits.clientIP
	liveLimit := perAddress(limit.New(s.Limits.LiveRate, s.Limits.LiveBurst), ip, "new live connections")
	apiLimit := perAddress(limit.New(s.Limits.APIRate, s.Limits.APIBurst), ip, "API requests")
	rooms := &roomPages{history: s.Store, online: s.Rooms, unread: s.Store, users: s.Store,
		epoch: s.Hub.Epoch(), guests: s.Accounts.Guests}
	set := &settings{tokens: s.Store, accounts: a, unread: s.Store, epoch: s.Hub.Epoch()}

	e.GET("/", handleDashboard(s.Board, s.Store, s.Store, s.Rooms, s.Streams, s.Hub.Epoch()), visitor)
	e.GET("/live", handleLive(s.SSE, s.live, s.Logger), streaming, liveLimit, visitor)

	e.GET("/rooms", handleOpenRoom)
	e.GET("/rooms/:room", rooms.handleRoom, visitor)
	e.POST("/rooms/:room/name", rooms.handleChooseName, checkCSRF)
	e.GET("/rooms/:room/ws", handleRoomSocket(s.WS, s.Rooms, s.Store, s.Store, s.live, s.Accounts.Guests, s.Chat, s.chatRate, s.Logger), streaming, liveLimit)
	e.GET("/api/rooms/:room/messages", handleHistory(s.Store), apiLimit)

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

	api := e.Group("/api", apiLimit)
	api.POST("/metrics", handleIngestMetric(s.Store, s.Board), requireScope(s.Store, auth.ScopeMetrics))
	api.POST("/activity", handleIngestActivity(s.Store), requireScope(s.Store, auth.ScopeActivity))
	api.POST("/notifications", handleNotify(s.Store), requireScope(s.Store, auth.ScopeNotify))

	s.embedRoutes(e, liveLimit)
	e.POST("/embed/tokens", handleMintWidgetToken(s.Secret), checkCSRF)

	e.GET("/healthz", handleHealth(s.Store, s.Cluster))
	e.GET("/metrics", echo.WrapHandler(s.Metrics))
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", staticFiles())))
}
