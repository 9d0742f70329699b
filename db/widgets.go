package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// WidgetToken is a widget token as stored: what it allows, who made it and
// whether it was revoked. The token itself is signed with the server's
// secret and carries the ID; it is not stored.
type WidgetToken struct {
	ID      int64
	Widget  string
	Room    string // "" for a widget of no room
	Post    bool
	Origins []string
	Expires time.Time
	// UserID is who made it, 0 for the command line; UserName is that
	// account's name when read back ("" for the command line).
	UserID   int64
	UserName string
	At       time.Time
	Revoked  time.Time // zero while it works
}

// CreateWidgetToken stores a widget token about to be signed and returns
// it with its ID, the id the signed token must carry. The caller has
// validated what it allows.
func (s *Store) CreateWidgetToken(ctx context.Context, w WidgetToken) (WidgetToken, error) {
	if w.Widget == "" || w.Expires.IsZero() || strings.ContainsAny(strings.Join(w.Origins, ""), " ") {
		return WidgetToken{}, fmt.Errorf("%w: a widget token needs a widget, an expiry and origins without spaces", ErrInvalid)
	}
	return doAs[WidgetToken](ctx, s, time.Time{}, &createWidgetToken{Widget: w.Widget, Room: w.Room, Post: w.Post,
		Origins: w.Origins, Expires: toMilli(w.Expires).UnixMilli(), UserID: w.UserID})
}

// createWidgetToken is the command of CreateWidgetToken.
type createWidgetToken struct {
	Widget  string   `json:"widget"`
	Room    string   `json:"room,omitempty"`
	Post    bool     `json:"post,omitempty"`
	Origins []string `json:"origins,omitempty"`
	Expires int64    `json:"expires"` // unix ms
	UserID  int64    `json:"user_id,omitempty"`
}

func init() { registerOp(func() Op { return new(createWidgetToken) }) }

func (*createWidgetToken) kind() string { return "widget" }

func (c *createWidgetToken) apply(tx *sql.Tx, _ int64, at time.Time) (any, []Event, error) {
	w := WidgetToken{Widget: c.Widget, Room: c.Room, Post: c.Post, Origins: c.Origins, Expires: fromMilli(c.Expires),
		UserID: c.UserID, At: at}
	res, err := tx.Exec(`INSERT INTO widget_tokens (widget, room, post, origins, expires_at, user_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		w.Widget, w.Room, w.Post, strings.Join(w.Origins, " "), c.Expires, nullID(w.UserID), at.UnixMilli())
	if err != nil {
		return nil, nil, err
	}
	w.ID, err = res.LastInsertId()
	return w, nil, err
}

// WidgetTokenByID returns widget token id, revoked or not (the caller says
// which), or ErrNotFound.
func (s *Store) WidgetTokenByID(ctx context.Context, id int64) (WidgetToken, error) {
	// A widget made on another instance may be shown here a moment later.
	return findFresh(ctx, s, func() (WidgetToken, error) {
		w, err := scanWidgetToken(s.r.QueryRowContext(ctx, `SELECT `+widgetColumns+` FROM `+widgetTables+` WHERE w.id = ?`, id))
		return w, s.readErr(err)
	})
}

// WidgetTokens lists the newest limit widget tokens made by userID, or by
// anyone when userID is 0 (an admin's list, the command line's), newest
// first.
func (s *Store) WidgetTokens(ctx context.Context, userID int64, limit int) ([]WidgetToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+widgetColumns+` FROM `+widgetTables+`
		WHERE ? = 0 OR w.user_id = ? ORDER BY w.id DESC LIMIT ?`, userID, userID, limit)
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	var out []WidgetToken
	for rows.Next() {
		w, err := scanWidgetToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, s.readErr(rows.Err())
}

// RevokeWidgetToken revokes widget token id at now, if userID made it, or
// whoever did when userID is 0 (an admin, the command line). A token of
// someone else, an unknown one or one already revoked is ErrNotFound.
func (s *Store) RevokeWidgetToken(ctx context.Context, userID, id int64, now time.Time) error {
	_, err := s.do(ctx, now, &revokeWidgetToken{UserID: userID, ID: id})
	return err
}

// revokeWidgetToken is the command of RevokeWidgetToken.
type revokeWidgetToken struct {
	UserID int64 `json:"user_id,omitempty"`
	ID     int64 `json:"id"`
}

func init() { registerOp(func() Op { return new(revokeWidgetToken) }) }

func (*revokeWidgetToken) kind() string { return "widget_revoke" }

// apply revokes the token and announces it on TopicWidgets, so that every
// instance closes the token's live connections when it applies it.
func (c *revokeWidgetToken) apply(tx *sql.Tx, pos int64, at time.Time) (any, []Event, error) {
	res, err := tx.Exec(`UPDATE widget_tokens SET revoked_at = ?
		WHERE id = ? AND (? = 0 OR user_id = ?) AND revoked_at IS NULL`, at.UnixMilli(), c.ID, c.UserID, c.UserID)
	if err != nil {
		return nil, nil, err
	}
	if err := mustChange(res); err != nil {
		return nil, nil, err
	}
	e, err := appendEvent(tx, pos, TopicWidgets, KindWidgetRevoked, at, WidgetRevoked{Token: c.ID})
	return nil, []Event{e}, err
}

// TopicWidgets is the topic of events about widget tokens. No client reads
// it: its events tell every instance to close a token's live connections.
const TopicWidgets = "widgets"

// KindWidgetRevoked is the kind of the event of a revoked widget token.
const KindWidgetRevoked = "widget_revoked"

// WidgetRevoked is the data of a KindWidgetRevoked event.
type WidgetRevoked struct {
	Token int64 `json:"token"`
}

// WidgetTokensRevokedSince returns the ids of the widget tokens revoked at
// or after since, by any process: how a server learns of revocations made
// on the command line.
func (s *Store) WidgetTokensRevokedSince(ctx context.Context, since time.Time) ([]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM widget_tokens WHERE revoked_at >= ? ORDER BY id`, since.UnixMilli())
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, s.readErr(rows.Err())
}

const (
	widgetColumns = `w.id, w.widget, w.room, w.post, w.origins, w.expires_at, COALESCE(w.user_id, 0), COALESCE(u.name, ''),
		w.created_at, w.revoked_at`
	widgetTables = `widget_tokens w LEFT JOIN users u ON u.id = w.user_id`
)

func scanWidgetToken(row interface{ Scan(...any) error }) (WidgetToken, error) {
	var w WidgetToken
	var origins string
	var exp, at int64
	var revoked sql.NullInt64
	err := row.Scan(&w.ID, &w.Widget, &w.Room, &w.Post, &origins, &exp, &w.UserID, &w.UserName, &at, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return WidgetToken{}, ErrNotFound
	}
	if err != nil {
		return WidgetToken{}, err
	}
	w.Origins = strings.Fields(origins)
	w.Expires, w.At = fromMilli(exp), fromMilli(at)
	if revoked.Valid {
		w.Revoked = fromMilli(revoked.Int64)
	}
	return w, nil
}
