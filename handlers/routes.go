package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// routes lists every route of Beacon on one screen. Streaming routes (/live)
// get no compression or timeout middleware: both would hold events back.
func (s *Server) routes(e *echo.Echo) {
	e.GET("/", handleDashboard(s.Board, s.Store, s.Rooms, s.Streams, s.Hub.Epoch()), visitor)
	e.GET("/live", handleLive(s.SSE, publicTopics, s.Logger), visitor)

	e.GET("/rooms", handleOpenRoom)
	e.GET("/rooms/:room", handleRoom(s.Store, s.Rooms, s.Hub.Epoch()), visitor)
	e.POST("/rooms/:room/name", handleChooseName(s.Store, s.Rooms, s.Hub.Epoch()))
	e.GET("/rooms/:room/ws", handleRoomSocket(s.WS, s.Rooms, s.Store, s.Chat, s.Logger))
	e.GET("/api/rooms/:room/messages", handleHistory(s.Store))

	api := e.Group("/api", loopbackOnly) // until API tokens exist
	api.POST("/metrics", handleIngestMetric(s.Store, s.Board))
	api.POST("/activity", handleIngestActivity(s.Store))

	s.embedRoutes(e)
	e.POST("/embed/tokens", handleMintWidgetToken(s.Secret))

	e.GET("/healthz", handleHealth(s.Store))
	e.GET("/metrics", echo.WrapHandler(s.Metrics))
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", staticFiles())))
}
