package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Token is an API token as stored: never the token itself.
type Token struct {
	ID       int64
	UserID   int64 // 0 for a server token
	Name     string
	Scopes   []string
	At       time.Time
	LastUsed time.Time // zero if never used
	Revoked  time.Time // zero while it works
	// OwnerRole is the owner's role as it is now (RoleAdmin or
	// RoleMember), "" for a server token: what a token may do follows its
	// owner's role, so a demotion takes effect at the token's next use.
	OwnerRole string
	// OwnerName is the owner's account name, "" for a server token.
	OwnerName string
}

// CreateToken stores the hash of token under name with scopes, owned by
// userID (0 for a server token).
func (s *Store) CreateToken(ctx context.Context, userID int64, name, token string, scopes []string) (Token, error) {
	if token == "" || name == "" || len(scopes) == 0 {
		return Token{}, fmt.Errorf("%w: a token needs a name, a value and a scope", ErrInvalid)
	}
	return doAs[Token](ctx, s, time.Time{}, &createToken{UserID: userID, Name: name, Hash: hashOf(token), Scopes: scopes})
}

// createToken is the command of CreateToken and SetServerToken: it carries
// the token's hash, never the token. Replace makes it the one server token
// of its name.
type createToken struct {
	UserID  int64    `json:"user_id,omitempty"`
	Name    string   `json:"name"`
	Hash    []byte   `json:"hash"`
	Scopes  []string `json:"scopes"`
	Replace bool     `json:"replace,omitempty"`
}

func init() { registerOp(func() Op { return new(createToken) }) }

func (*createToken) kind() string { return "token" }

func (c *createToken) apply(tx *sql.Tx, _ int64, at time.Time) (any, []Event, error) {
	if c.Replace {
		if _, err := tx.Exec(`DELETE FROM tokens WHERE user_id IS NULL AND name = ?`, c.Name); err != nil {
			return nil, nil, err
		}
	}
	t := Token{UserID: c.UserID, Name: c.Name, Scopes: c.Scopes, At: at}
	res, err := tx.Exec(`INSERT INTO tokens (hash, user_id, name, scopes, created_at) VALUES (?, ?, ?, ?, ?)`,
		c.Hash, nullID(c.UserID), c.Name, strings.Join(c.Scopes, " "), at.UnixMilli())
	if err != nil {
		return nil, nil, uniqueErr(err, "this token")
	}
	t.ID, err = res.LastInsertId()
	return t, nil, err
}

// SetServerToken makes token the one server token called name, with scopes:
// it replaces the value of a token of that name, or creates it. It is how
// BEACON_BOOTSTRAP_TOKEN is kept in step with the environment.
func (s *Store) SetServerToken(ctx context.Context, name, token string, scopes []string) error {
	if token == "" || name == "" || len(scopes) == 0 {
		return fmt.Errorf("%w: a token needs a name, a value and a scope", ErrInvalid)
	}
	_, err := s.do(ctx, time.Time{}, &createToken{Name: name, Hash: hashOf(token), Scopes: scopes, Replace: true})
	return err
}

// TokenByValue returns the token whose value is token, revoked or not (the
// caller says which), with its owner's role, or ErrNotFound. It only reads:
// TouchToken records a use.
func (s *Store) TokenByValue(ctx context.Context, token string) (Token, error) {
	// A token made on another instance may be used here a moment later.
	return findFresh(ctx, s, func() (Token, error) {
		t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM `+tokenTables+` WHERE t.hash = ?`, hashOf(token)))
		if err != nil {
			return Token{}, s.readErr(err)
		}
		return t, nil
	})
}

// TouchToken records that token id was used at now. Callers may run it in
// the background: it is bookkeeping, not authorization.
func (s *Store) TouchToken(ctx context.Context, id int64, now time.Time) error {
	_, err := s.do(ctx, now, &touchToken{ID: id})
	return err
}

// touchToken is the command of TouchToken.
type touchToken struct {
	ID int64 `json:"id"`
}

func init() { registerOp(func() Op { return new(touchToken) }) }

func (*touchToken) kind() string { return "token_used" }

func (c *touchToken) apply(tx *sql.Tx, _ int64, at time.Time) (any, []Event, error) {
	_, err := tx.Exec(`UPDATE tokens SET last_used_at = ? WHERE id = ?`, at.UnixMilli(), c.ID)
	return nil, nil, err
}

// Tokens lists the tokens of userID (0: the server tokens), newest first.
func (s *Store) Tokens(ctx context.Context, userID int64) ([]Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM `+tokenTables+`
		WHERE t.user_id IS ? ORDER BY t.id DESC`, nullID(userID))
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, s.readErr(rows.Err())
}

// AllTokens lists every token, the server's and every person's, newest
// first: the operator's list (beacon token list).
func (s *Store) AllTokens(ctx context.Context) ([]Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM `+tokenTables+` ORDER BY t.id DESC`)
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, s.readErr(rows.Err())
}

// RevokeAnyToken revokes token id, whoever owns it, at now: the operator's
// revocation (beacon token revoke). An unknown token, or one already
// revoked, is ErrNotFound.
func (s *Store) RevokeAnyToken(ctx context.Context, id int64, now time.Time) error {
	_, err := s.do(ctx, now, &revokeToken{ID: id, Any: true})
	return err
}

// TokensRevokedSince returns the ids of the API tokens revoked at or after
// since, by any process: how a server learns of revocations made on the
// command line, to close the live connections those tokens hold.
func (s *Store) TokensRevokedSince(ctx context.Context, since time.Time) ([]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM tokens WHERE revoked_at >= ? ORDER BY id`, since.UnixMilli())
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

// RevokeToken revokes token id of userID (0: a server token) at now. A
// token of someone else, or one already revoked, is ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, userID, id int64, now time.Time) error {
	_, err := s.do(ctx, now, &revokeToken{UserID: userID, ID: id})
	return err
}

// revokeToken is the command of RevokeToken and RevokeAnyToken.
type revokeToken struct {
	UserID int64 `json:"user_id,omitempty"`
	ID     int64 `json:"id"`
	Any    bool  `json:"any,omitempty"` // whoever owns it
}

func init() { registerOp(func() Op { return new(revokeToken) }) }

func (*revokeToken) kind() string { return "token_revoke" }

// apply revokes the token and announces it on TopicTokens, so that every
// instance closes the live connections it holds (a tail's stream, a bot's
// socket) when it applies it.
func (c *revokeToken) apply(tx *sql.Tx, pos int64, at time.Time) (any, []Event, error) {
	res, err := tx.Exec(`UPDATE tokens SET revoked_at = ? WHERE id = ? AND (? OR user_id IS ?) AND revoked_at IS NULL`,
		at.UnixMilli(), c.ID, c.Any, nullID(c.UserID))
	if err != nil {
		return nil, nil, err
	}
	if err := mustChange(res); err != nil {
		return nil, nil, err
	}
	e, err := appendEvent(tx, pos, TopicTokens, KindTokenRevoked, at, TokenRevoked{Token: c.ID})
	return nil, []Event{e}, err
}

// TopicTokens is the topic of events about API tokens. No client reads it:
// its events tell every instance to close a token's live connections.
const TopicTokens = "tokens"

// KindTokenRevoked is the kind of the event of a revoked API token.
const KindTokenRevoked = "token_revoked"

// TokenRevoked is the data of a KindTokenRevoked event.
type TokenRevoked struct {
	Token int64 `json:"token"`
}

const (
	tokenColumns = `t.id, COALESCE(t.user_id, 0), t.name, t.scopes, t.created_at, t.last_used_at, t.revoked_at, COALESCE(u.role, ''), COALESCE(u.name, '')`
	tokenTables  = `tokens t LEFT JOIN users u ON u.id = t.user_id`
)

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var scopes string
	var at int64
	var used, revoked sql.NullInt64
	err := row.Scan(&t.ID, &t.UserID, &t.Name, &scopes, &at, &used, &revoked, &t.OwnerRole, &t.OwnerName)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrNotFound
	}
	if err != nil {
		return Token{}, err
	}
	t.Scopes = strings.Fields(scopes)
	t.At = fromMilli(at)
	if used.Valid {
		t.LastUsed = fromMilli(used.Int64)
	}
	if revoked.Valid {
		t.Revoked = fromMilli(revoked.Int64)
	}
	return t, nil
}

// nullID stores the id 0 as NULL.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
