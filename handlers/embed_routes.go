package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/widget"
)

// embedRoutes lists the routes of embeddable widgets (issue #5). Their
// credential is a signed widget token, never a cookie: they live in frames
// of other sites, where third-party cookies are gone. No visitor cookie
// either, for the same reason. Streams (/embed/live, /stream/) get no
// compression or timeout middleware.
//
// liveLimit is the per-address limit of new live connections that /live
// and room sockets share.
func (s *Server) embedRoutes(e *echo.Echo, liveLimit echo.MiddlewareFunc) {
	auth := widgetAuth{secret: s.Secret, cfg: s.Embed, tokens: s.Store, conns: s.widgets}
	data := widgetData{board: s.Board, feed: s.Store, history: s.Store}
	epoch := s.Hub.Epoch()

	e.GET("/embed/metrics", handleWidget(auth, data, epoch, widget.Metrics))
	e.GET("/embed/chart", handleWidget(auth, data, epoch, widget.Chart))
	e.GET("/embed/activity", handleWidget(auth, data, epoch, widget.Activity))
	e.GET("/embed/rooms/:room", handleWidget(auth, data, epoch, widget.Room))
	e.POST("/embed/rooms/:room/messages", handleWidgetPost(auth, data, s.Store, s.Store, s.Chat, s.chatRate, epoch))
	e.GET("/embed/live", handleWidgetLive(s.SSE, auth, s.Logger), streaming, liveLimit)

	e.GET("/stream/metrics", handleWidgetStream(s.Streams, auth, data, widget.Metrics, s.Logger), streaming, liveLimit)
	e.GET("/stream/chart", handleWidgetStream(s.Streams, auth, data, widget.Chart, s.Logger), streaming, liveLimit)
	e.GET("/stream/activity", handleWidgetStream(s.Streams, auth, data, widget.Activity, s.Logger), streaming, liveLimit)
	e.GET("/stream/rooms/:room", handleWidgetStream(s.Streams, auth, data, widget.Room, s.Logger), streaming, liveLimit)
}
