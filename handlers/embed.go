package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
	"github.com/beacon-live/beacon/widget"
)

// EmbedConfig configures the embeddable widgets.
type EmbedConfig struct {
	// Origins may frame a widget whose token names no origin of its own
	// (BEACON_EMBED_ORIGINS). "*" lets any site frame such widgets; with
	// neither, a widget refuses to show (403) rather than guess. Each is a
	// normalized origin (widget.ParseOrigin) or "*".
	Origins []string
}

// Framing. securityHeaders sets frame-ancestors 'none' and X-Frame-Options
// DENY on every response; widget responses replace both with the sites the
// token (or the operator) allows. Nothing else changes in the policy:
// scripts and styles stay 'self'.
const (
	headerCSP        = "Content-Security-Policy"
	noFrameAncestors = "frame-ancestors 'none'"
)

// allowFraming lets ancestors (a CSP source list) frame this response.
func allowFraming(c echo.Context, ancestors string) {
	h := c.Response().Header()
	h.Del("X-Frame-Options")
	h.Set(headerCSP, strings.Replace(h.Get(headerCSP), noFrameAncestors, "frame-ancestors "+ancestors, 1))
}

// ancestors returns the CSP source list of the sites that may frame a widget
// of claims: the token's origins, else the operator's, always with Beacon's
// own pages. ok is false when neither names any.
func (e EmbedConfig) ancestors(claims widget.Claims) (list string, ok bool) {
	origins := claims.Origins
	if len(origins) == 0 {
		origins = e.Origins
	}
	if len(origins) == 0 {
		return "", false
	}
	for _, o := range origins {
		if o == "*" {
			return "*", true
		}
	}
	return "'self' " + strings.Join(origins, " "), true
}

// errNoOrigins refuses a widget that no site may frame.
var errNoOrigins = errors.New("this widget's token names no site that may embed it, and the server allows none " +
	"(BEACON_EMBED_ORIGINS): make a token with an origin")

// widgetTokenReader reads stored widget tokens: whether one was revoked.
type widgetTokenReader interface {
	WidgetTokenByID(ctx context.Context, id int64) (db.WidgetToken, error)
}

// Errors of a widget token that is signed right but no longer works. Like
// an expired one, they mean the bearer is not authenticated (401).
var (
	errWidgetRevoked = errors.New("this widget's token was revoked")
	errWidgetUnknown = errors.New("this widget's token is not known to this server (its database was replaced?); make a new one")
)

// widgetAuth checks the token of a widget request against the widget and
// room it asks for, and against its stored row: a revoked token is refused
// on every request. conns holds the live connections of each token, which
// revoking it ends.
type widgetAuth struct {
	secret []byte
	cfg    EmbedConfig
	tokens widgetTokenReader
	conns  *liveSessions
}

// check parses the request's ?token= (or form field "token") and checks it
// allows kind (and room) and still works. On success the response may be
// framed by the token's sites.
func (a widgetAuth) check(c echo.Context, kind, room string) (widget.Claims, error) {
	claims, err := a.parse(c.Request().Context(), c.FormValue("token"))
	if err != nil {
		return claims, err
	}
	if err := claims.Allows(kind, room); err != nil {
		return claims, err
	}
	list, ok := a.cfg.ancestors(claims)
	if !ok {
		return claims, errNoOrigins
	}
	allowFraming(c, list)
	return claims, nil
}

// parse checks token's signature, id and expiry, then that it was not
// revoked.
func (a widgetAuth) parse(ctx context.Context, token string) (widget.Claims, error) {
	claims, err := widget.Parse(a.secret, token, time.Now())
	if err != nil {
		return claims, err
	}
	w, err := a.tokens.WidgetTokenByID(ctx, claims.ID)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return claims, errWidgetUnknown
	case err != nil:
		return claims, err
	case !w.Revoked.IsZero():
		return claims, fmt.Errorf("%w on %s; ask for a new snippet", errWidgetRevoked, w.Revoked.Format("2006-01-02 15:04 MST"))
	}
	return claims, nil
}

// widgetRoom returns the room in the path of a room widget's request, and
// "" for the other kinds.
func widgetRoom(c echo.Context, kind string) (string, error) {
	if kind != widget.Room {
		return "", nil
	}
	room := c.Param("room")
	return room, checkRoom(room)
}

// errNoPosting refuses a post from a widget whose token does not allow it.
var errNoPosting = errors.New("this widget's token does not allow posting")

// refusal returns the status of a refused widget token: 401 for a token
// that is missing, bad, expired, revoked or unknown, 403 for one that does
// not allow what was asked; ok is false for any other error (the store
// failed), which is no refusal.
func refusal(err error) (status int, ok bool) {
	for _, e := range []error{widget.ErrMissing, widget.ErrMalformed, widget.ErrSignature, widget.ErrExpired,
		widget.ErrNoID, errWidgetRevoked, errWidgetUnknown} {
		if errors.Is(err, e) {
			return http.StatusUnauthorized, true
		}
	}
	for _, e := range []error{widget.ErrScope, errNoOrigins, errNoPosting} {
		if errors.Is(err, e) {
			return http.StatusForbidden, true
		}
	}
	return 0, false
}

// widgetError answers a refused widget request with a page the frame shows
// (refusal says its status). Any site may frame it: it holds no data and
// no action, and a blank frame would tell the person in front of it
// nothing. Any other error goes to the error handler as it is.
func widgetError(c echo.Context, err error) error {
	status, ok := refusal(err)
	if !ok {
		return err
	}
	msg := err.Error()
	if errors.Is(err, widget.ErrScope) {
		msg = "This widget's token does not allow this widget or room."
	}
	allowFraming(c, "*")
	return render(c, status, views.WidgetError(views.Widget{Title: http.StatusText(status), Theme: theme(c)}, status, msg))
}

// theme reads ?theme=light|dark; anything else follows the system.
func theme(c echo.Context) string {
	switch t := c.QueryParam("theme"); t {
	case views.ThemeLight, views.ThemeDark:
		return t
	}
	return ""
}

// widgetTopics are the topics a widget's live connection carries, derived
// from its token alone.
func widgetTopics(claims widget.Claims) []string {
	switch claims.Widget {
	case widget.Metrics:
		return []string{views.TopicMetrics}
	case widget.Chart:
		return []string{views.TopicChart}
	case widget.Activity:
		return []string{views.TopicActivity}
	default:
		return []string{views.TopicRoom(claims.Room)}
	}
}

// widgetData reads what the widgets show.
type widgetData struct {
	board   *Board
	feed    feedReader
	history historyReader
}

// panel renders the widget of claims as it is now, for the live page, and
// the position it was read at (0 for state widgets, which need none).
func (d widgetData) panel(ctx context.Context, claims widget.Claims, room views.WidgetRoom) (templ.Component, int64, error) {
	switch claims.Widget {
	case widget.Metrics:
		return d.metricsPanel(), 0, nil
	case widget.Chart:
		return views.ChartPanel(d.board.WidgetChart(ctx), false), 0, nil
	case widget.Activity:
		items, head, err := d.feed.RecentActivities(ctx, views.ActivityItems)
		return views.ActivityPanel(activityViews(items)), head, err
	default:
		msgs, head, err := d.history.Messages(ctx, claims.Room, 0, views.HistoryPage)
		room.Name, room.Messages = claims.Room, messageViews(msgs)
		return views.RoomWidget(room), head, err
	}
}

// handleWidget serves GET /embed/:widget and /embed/rooms/:room: the widget
// in a minimal page for an iframe, live over /embed/live with the same token.
func handleWidget(auth widgetAuth, data widgetData, epoch, kind string) echo.HandlerFunc {
	return func(c echo.Context) error {
		room, err := widgetRoom(c, kind)
		if err != nil {
			return err
		}
		claims, err := auth.check(c, kind, room)
		if err != nil {
			return widgetError(c, err)
		}
		token := c.QueryParam("token")
		r := views.WidgetRoom{Post: claims.Post, Token: token, PostAction: postPath(room)}
		if name := strings.TrimSpace(c.QueryParam("name")); checkDisplayName(name) == nil {
			r.Guest = name
		}
		return widgetPage(c, http.StatusOK, data, claims, token, epoch, r)
	}
}

// widgetPage renders the live widget page of claims.
func widgetPage(c echo.Context, status int, data widgetData, claims widget.Claims, token, epoch string, r views.WidgetRoom) error {
	body, head, err := data.panel(c.Request().Context(), claims, r)
	if err != nil {
		return err
	}
	sse := "/embed/live?token=" + url.QueryEscape(token)
	if claims.Widget == widget.Activity || claims.Widget == widget.Room {
		// A log widget goes live exactly where its page was read.
		sse += "&after=" + url.QueryEscape(live.FormatID(epoch, head))
	}
	w := views.Widget{Title: widgetTitle(claims), Theme: theme(c), LiveURL: sse}
	return render(c, status, views.WidgetPage(w, body))
}

func widgetTitle(c widget.Claims) string {
	if c.Widget == widget.Room {
		return "#" + c.Room
	}
	return strings.ToUpper(c.Widget[:1]) + c.Widget[1:]
}

func postPath(room string) string { return "/embed/rooms/" + room + "/messages" }

// handleWidgetLive serves GET /embed/live?token=…: a widget's SSE
// connection. It authenticates with the token, never with cookies (a frame
// in another site gets none), and its topics come from the token, never from
// the query. It resumes like /live, and ends when the token expires or is
// revoked.
func handleWidgetLive(sse *live.SSE, auth widgetAuth, log *slog.Logger) echo.HandlerFunc {
	return func(c echo.Context) error {
		claims, err := auth.parse(c.Request().Context(), c.QueryParam("token"))
		if err != nil {
			if _, ok := refusal(err); !ok {
				return err
			}
			return &fieldError{Status: http.StatusUnauthorized, Field: "token", Message: err.Error()}
		}
		resume := c.Request().Header.Get("Last-Event-ID")
		if resume == "" {
			resume = c.QueryParam("after")
		}
		// The token's expiry ends the stream too: coming back, the widget
		// gets the 401 its page would; revoking the token ends it at once.
		// The stream outlives this handler, so the deadline and the hold
		// are on a context of its own, released when the stream ends.
		ctx, cancel := context.WithDeadline(context.WithoutCancel(c.Request().Context()), time.Unix(claims.Expires, 0))
		ctx, release := auth.conns.hold(ctx, claims.ID)
		sse.Serve(c.Response(), c.Request(), live.Request{ //nolint:errcheck // OnEnd has it
			Topics: widgetTopics(claims), Resume: resume, Context: ctx,
			OnEnd: func(err error) {
				if err != nil && !errors.Is(err, live.ErrClosed) && ctx.Err() == nil {
					log.Debug("widget stream ended", "err", err)
				}
				release()
				cancel()
			},
		})
		return nil
	}
}
