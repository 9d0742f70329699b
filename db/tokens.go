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
	t := Token{UserID: userID, Name: name, Scopes: scopes, At: toMilli(time.Time{})}
	err := s.write(ctx, func(tx *sql.Tx) ([]Event, error) {
		res, err := tx.Exec(`INSERT INTO tokens (hash, user_id, name, scopes, created_at) VALUES (?, ?, ?, ?, ?)`,
			hashOf(token), nullID(userID), name, strings.Join(scopes, " "), t.At.UnixMilli())
		if err != nil {
			return nil, uniqueErr(err, "this token")
		}
		t.ID, err = res.LastInsertId()
		return nil, err
	})
	return t, err
}

// SetServerToken makes token the one server token called name, with scopes:
// it replaces the value of a token of that name, or creates it. It is how
// BEACON_BOOTSTRAP_TOKEN is kept in step with the environment.
func (s *Store) SetServerToken(ctx context.Context, name, token string, scopes []string) error {
	if token == "" || name == "" || len(scopes) == 0 {
		return fmt.Errorf("%w: a token needs a name, a value and a scope", ErrInvalid)
	}
	return s.write(ctx, func(tx *sql.Tx) ([]Event, error) {
		_, err := tx.Exec(`DELETE FROM tokens WHERE user_id IS NULL AND name = ?`, name)
		if err != nil {
			return nil, err
		}
		_, err = tx.Exec(`INSERT INTO tokens (hash, name, scopes, created_at) VALUES (?, ?, ?, ?)`,
			hashOf(token), name, strings.Join(scopes, " "), time.Now().UnixMilli())
		return nil, err
	})
}

// TokenByValue returns the token whose value is token, revoked or not (the
// caller says which), with its owner's role, or ErrNotFound.
func (s *Store) TokenByValue(ctx context.Context, token string) (Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM `+tokenTables+` WHERE t.hash = ?`, hashOf(token)))
	if err != nil {
		return Token{}, s.readErr(err)
	}
	return t, nil
}

// TouchToken records that token id was used at now. Callers may run it in
// the background: it is bookkeeping, not authorization.
func (s *Store) TouchToken(ctx context.Context, id int64, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) ([]Event, error) {
		_, err := tx.Exec(`UPDATE tokens SET last_used_at = ? WHERE id = ?`, now.UnixMilli(), id)
		return nil, err
	})
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
	return s.write(ctx, func(tx *sql.Tx) ([]Event, error) {
		res, err := tx.Exec(`UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, now.UnixMilli(), id)
		if err != nil {
			return nil, err
		}
		return nil, mustChange(res)
	})
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
	return s.write(ctx, func(tx *sql.Tx) ([]Event, error) {
		res, err := tx.Exec(`UPDATE tokens SET revoked_at = ? WHERE id = ? AND user_id IS ? AND revoked_at IS NULL`,
			now.UnixMilli(), id, nullID(userID))
		if err != nil {
			return nil, err
		}
		return nil, mustChange(res)
	})
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
