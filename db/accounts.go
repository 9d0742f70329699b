package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/beacon-live/beacon/names"
)

// ErrExists is returned when a record with the same unique name exists.
var ErrExists = errors.New("db: already exists")

// ErrNotFirst is returned by CreateFirstUser when an account exists.
var ErrNotFirst = errors.New("db: accounts exist already")

// ErrLastAdmin is returned by SetRole for a change that would leave no admin.
var ErrLastAdmin = errors.New("db: that is the last admin")

// Roles of an account.
const (
	// RoleAdmin makes ingest and notify tokens and posting widgets, and
	// sees the server panel. The first account is one.
	RoleAdmin = "admin"
	// RoleMember is every other account.
	RoleMember = "member"
)

// User is an account.
type User struct {
	ID       int64
	Name     string
	Password string // PHC string of the password's hash
	Role     string // RoleAdmin or RoleMember
	At       time.Time
}

// Admin reports whether u is an admin.
func (u User) Admin() bool { return u.Role == RoleAdmin }

// firstIsAdmin is the role of a new account, decided inside its INSERT:
// the writer runs one transaction at a time (and other processes wait for
// its lock), so of two first sign-ups exactly one sees no account.
const firstIsAdmin = `CASE WHEN EXISTS (SELECT 1 FROM users) THEN '` + RoleMember + `' ELSE '` + RoleAdmin + `' END`

// CreateUser stores a new account; a name with the key of another's
// (names.Key: "Émile" and "émile") is ErrExists. The first account of the
// database is an admin, every later one a member. The caller has prepared
// name (names.Account) and hashed the password.
func (s *Store) CreateUser(ctx context.Context, name, passwordHash string) (User, error) {
	return s.createUser(ctx, name, passwordHash, false)
}

// CreateFirstUser stores a new account, an admin, only if the database has
// none yet (else ErrNotFirst): sign-up when it is closed to all but the
// first account.
func (s *Store) CreateFirstUser(ctx context.Context, name, passwordHash string) (User, error) {
	return s.createUser(ctx, name, passwordHash, true)
}

func (s *Store) createUser(ctx context.Context, name, passwordHash string, onlyFirst bool) (User, error) {
	key, ok := names.Key(name)
	if !ok || passwordHash == "" {
		return User{}, fmt.Errorf("%w: a user needs a name (one word) and a password hash", ErrInvalid)
	}
	return doAs[User](ctx, s, time.Time{}, &createUser{Name: name, Key: key, Password: passwordHash, OnlyFirst: onlyFirst})
}

// createUser is the command of CreateUser and CreateFirstUser. Two
// sign-ups for one name on two instances both reach the log; the first
// applied wins everywhere, and the second is refused everywhere with
// ErrExists. The role is decided in the INSERT, so of two first sign-ups
// exactly one is the admin, on every instance alike.
type createUser struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	Password  string `json:"password"` // the PHC string of its hash, never the password
	OnlyFirst bool   `json:"only_first,omitempty"`
}

func init() { registerOp(func() Op { return new(createUser) }) }

func (*createUser) kind() string { return "user" }

func (c *createUser) apply(tx *sql.Tx, _ int64, at time.Time) (any, []Event, error) {
	u := User{Name: c.Name, Password: c.Password, At: at}
	query := `INSERT INTO users (name, name_key, password, role, created_at) VALUES (?, ?, ?, ` + firstIsAdmin + `, ?)
		RETURNING id, role`
	if c.OnlyFirst {
		query = `INSERT INTO users (name, name_key, password, role, created_at)
			SELECT ?, ?, ?, '` + RoleAdmin + `', ? WHERE NOT EXISTS (SELECT 1 FROM users)
			RETURNING id, role`
	}
	err := tx.QueryRow(query, u.Name, c.Key, u.Password, at.UnixMilli()).Scan(&u.ID, &u.Role)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrNotFirst
	}
	if err != nil {
		return nil, nil, uniqueErr(err, "the name "+c.Name)
	}
	return u, nil, nil
}

// SetRole makes the account called name (as UserByName finds it) an admin or a
// member, and returns it. An unknown name is ErrNotFound; taking the role
// of the only admin is ErrLastAdmin, so someone is always left to make
// tokens (the check is in the same transaction as the change).
func (s *Store) SetRole(ctx context.Context, name, role string) (User, error) {
	if role != RoleAdmin && role != RoleMember {
		return User{}, fmt.Errorf("%w: role must be %s or %s", ErrInvalid, RoleAdmin, RoleMember)
	}
	return doAs[User](ctx, s, time.Time{}, &setRole{Name: name, Role: role})
}

// setRole is the command of SetRole.
type setRole struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

func init() { registerOp(func() Op { return new(setRole) }) }

func (*setRole) kind() string { return "role" }

func (c *setRole) apply(tx *sql.Tx, _ int64, _ time.Time) (any, []Event, error) {
	var u User
	var ms int64
	key, _ := names.Key(c.Name) // "" matches no key
	// The account UserByName would find: exact name, then by key.
	err := tx.QueryRow(`SELECT `+userColumns+` FROM users WHERE name = ? OR name_key = ?
		ORDER BY name = ? COLLATE BINARY DESC, name_key IS ? DESC LIMIT 1`, c.Name, key, c.Name, key).
		Scan(&u.ID, &u.Name, &u.Password, &u.Role, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	u.At = fromMilli(ms)
	if u.Role == RoleAdmin && c.Role == RoleMember {
		var admins int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM users WHERE role = ?`, RoleAdmin).Scan(&admins); err != nil {
			return nil, nil, err
		}
		if admins <= 1 {
			return nil, nil, fmt.Errorf("%w: %s is the only admin; make another account admin first", ErrLastAdmin, u.Name)
		}
	}
	u.Role = c.Role
	_, err = tx.Exec(`UPDATE users SET role = ? WHERE id = ?`, c.Role, u.ID)
	return u, nil, err
}

// Users lists every account, oldest first.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var ms int64
		if err := rows.Scan(&u.ID, &u.Name, &u.Password, &u.Role, &ms); err != nil {
			return nil, err
		}
		u.At = fromMilli(ms)
		out = append(out, u)
	}
	return out, s.readErr(rows.Err())
}

// HasUsers reports whether the database has any account.
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	var exists bool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&exists)
	return exists, s.readErr(err)
}

// userColumns are the columns a User is scanned from, in order.
const userColumns = `id, name, password, role, created_at`

// UserByName returns the account called name, or ErrNotFound: the one
// whose name is exactly name, else the one whose name has name's key
// (names.Key: in any case, composed or not), else, for accounts made before
// keys, one whose name differs from it only in the case of ASCII letters.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	key, _ := names.Key(name) // "" matches no key
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+`, name = ? COLLATE BINARY, name_key IS ?
		FROM users WHERE name = ? OR name_key = ?`, name, key, name, key)
	if err != nil {
		return User{}, s.readErr(err)
	}
	defer rows.Close()
	var found User
	rank := 0 // 3 exact, 2 by key, 1 by ASCII case
	for rows.Next() {
		var u User
		var ms int64
		var exact, byKey bool
		if err := rows.Scan(&u.ID, &u.Name, &u.Password, &u.Role, &ms, &exact, &byKey); err != nil {
			return User{}, s.readErr(err)
		}
		u.At = fromMilli(ms)
		r := 1
		if exact {
			r = 3
		} else if byKey {
			r = 2
		}
		if r > rank {
			found, rank = u, r
		}
	}
	if err := rows.Err(); err != nil {
		return User{}, s.readErr(err)
	}
	if rank == 0 {
		return User{}, ErrNotFound
	}
	return found, nil
}

// keyNames gives every account made before name keys the key of its name,
// oldest first. An account whose name has no key (names.Key), or the key of
// an older account's name ("émile" made after "Émile"), keeps none: it is
// kept, and signs in by its exact name only (UnkeyedUsers lists them).
func keyNames(ctx context.Context, w *sql.DB) error {
	return inTx(ctx, w, func(tx *sql.Tx) error {
		rows, err := tx.Query(`SELECT id, name FROM users WHERE name_key IS NULL ORDER BY id`)
		if err != nil {
			return err
		}
		type user struct {
			id   int64
			name string
		}
		var todo []user
		for rows.Next() {
			var u user
			if err := rows.Scan(&u.id, &u.name); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, u := range todo {
			key, ok := names.Key(u.name)
			if !ok {
				continue
			}
			_, err := tx.Exec(`UPDATE users SET name_key = ? WHERE id = ?`, key, u.id)
			if err != nil && !errors.Is(uniqueErr(err, ""), ErrExists) {
				return err
			}
		}
		return nil
	})
}

// UnkeyedUsers lists the accounts whose name has no key (see keyNames), to
// tell the operator.
func (s *Store) UnkeyedUsers(ctx context.Context) ([]User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, created_at FROM users WHERE name_key IS NULL ORDER BY id`)
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var ms int64
		if err := rows.Scan(&u.ID, &u.Name, &ms); err != nil {
			return nil, err
		}
		u.At = fromMilli(ms)
		out = append(out, u)
	}
	return out, s.readErr(rows.Err())
}

// UserByID returns the account with id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	return s.user(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id)
}

func (s *Store) user(ctx context.Context, query string, arg any) (User, error) {
	var u User
	var ms int64
	err := s.r.QueryRowContext(ctx, query, arg).Scan(&u.ID, &u.Name, &u.Password, &u.Role, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, s.readErr(err)
	}
	u.At = fromMilli(ms)
	return u, nil
}

// Session is a signed-in browser.
type Session struct {
	ID       int64
	User     User
	Agent    string // the browser's User-Agent, to tell sessions apart
	At       time.Time
	Expires  time.Time
	LastUsed time.Time // as last recorded by TouchSession (or At)
}

// CreateSession stores a session of user for a cookie secret; only the
// secret's SHA-256 is kept. The user's expired sessions go at the same time,
// so the table holds about one row per browser.
func (s *Store) CreateSession(ctx context.Context, userID int64, secret, agent string, expires time.Time) (Session, error) {
	if secret == "" {
		return Session{}, fmt.Errorf("%w: a session needs a secret", ErrInvalid)
	}
	return doAs[Session](ctx, s, time.Time{}, &createSession{UserID: userID, Hash: hashOf(secret), Agent: agent,
		Expires: toMilli(expires).UnixMilli()})
}

// createSession is the command of CreateSession: it carries the hash of the
// cookie's secret, never the secret.
type createSession struct {
	UserID  int64  `json:"user_id"`
	Hash    []byte `json:"hash"`
	Agent   string `json:"agent"`
	Expires int64  `json:"expires"` // unix ms
}

func init() { registerOp(func() Op { return new(createSession) }) }

func (*createSession) kind() string { return "session" }

func (c *createSession) apply(tx *sql.Tx, _ int64, at time.Time) (any, []Event, error) {
	sess := Session{User: User{ID: c.UserID}, Agent: c.Agent, At: at, Expires: fromMilli(c.Expires), LastUsed: at}
	if _, err := tx.Exec(`DELETE FROM sessions WHERE user_id = ? AND expires_at <= ?`, c.UserID, at.UnixMilli()); err != nil {
		return nil, nil, err
	}
	res, err := tx.Exec(`INSERT INTO sessions (hash, user_id, agent, created_at, expires_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Hash, c.UserID, c.Agent, at.UnixMilli(), c.Expires, at.UnixMilli())
	if err != nil {
		return nil, nil, err
	}
	sess.ID, err = res.LastInsertId()
	return sess, nil, err
}

// SessionBySecret returns the unexpired session whose cookie secret is
// secret, with its user as it is now (its role included: a change of role
// takes effect at the session's next request), or ErrNotFound.
func (s *Store) SessionBySecret(ctx context.Context, secret string, now time.Time) (Session, error) {
	// A browser signed in on another instance may be here a moment later.
	return findFresh(ctx, s, func() (Session, error) { return s.sessionBySecret(ctx, secret, now) })
}

func (s *Store) sessionBySecret(ctx context.Context, secret string, now time.Time) (Session, error) {
	var sess Session
	var at, exp, used, uat int64
	err := s.r.QueryRowContext(ctx, `SELECT s.id, s.agent, s.created_at, s.expires_at, s.last_used_at,
			u.id, u.name, u.password, u.role, u.created_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.hash = ? AND s.expires_at > ?`, hashOf(secret), now.UnixMilli()).
		Scan(&sess.ID, &sess.Agent, &at, &exp, &used, &sess.User.ID, &sess.User.Name, &sess.User.Password, &sess.User.Role, &uat)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, s.readErr(err)
	}
	sess.At, sess.Expires, sess.LastUsed, sess.User.At = fromMilli(at), fromMilli(exp), fromMilli(used), fromMilli(uat)
	return sess, nil
}

// Sessions lists a user's unexpired sessions, newest first.
func (s *Store) Sessions(ctx context.Context, userID int64, now time.Time) ([]Session, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, agent, created_at, expires_at, last_used_at FROM sessions
		WHERE user_id = ? AND expires_at > ? ORDER BY id DESC`, userID, now.UnixMilli())
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		sess := Session{User: User{ID: userID}}
		var at, exp, used int64
		if err := rows.Scan(&sess.ID, &sess.Agent, &at, &exp, &used); err != nil {
			return nil, err
		}
		sess.At, sess.Expires, sess.LastUsed = fromMilli(at), fromMilli(exp), fromMilli(used)
		out = append(out, sess)
	}
	return out, s.readErr(rows.Err())
}

// TouchSession records that session id was used at at. A time before the
// one recorded changes nothing, so racing touches keep the latest. Callers
// touch a session only every so often, not on every request.
func (s *Store) TouchSession(ctx context.Context, id int64, at time.Time) error {
	_, err := s.do(ctx, at, &touchSession{ID: id})
	return err
}

// touchSession is the command of TouchSession.
type touchSession struct {
	ID int64 `json:"id"`
}

func init() { registerOp(func() Op { return new(touchSession) }) }

func (*touchSession) kind() string { return "session_used" }

func (c *touchSession) apply(tx *sql.Tx, _ int64, at time.Time) (any, []Event, error) {
	_, err := tx.Exec(`UPDATE sessions SET last_used_at = max(last_used_at, ?) WHERE id = ?`, at.UnixMilli(), c.ID)
	return nil, nil, err
}

// DeleteSession ends session id of user; a session of someone else, or one
// already gone, is ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, userID, id int64) error {
	_, err := s.do(ctx, time.Time{}, &deleteSession{UserID: userID, ID: id})
	return err
}

// deleteSession is the command of DeleteSession.
type deleteSession struct {
	UserID int64 `json:"user_id"`
	ID     int64 `json:"id"`
}

func init() { registerOp(func() Op { return new(deleteSession) }) }

func (*deleteSession) kind() string { return "session_end" }

// apply deletes the session and announces it on TopicSessions, so that
// every instance closes the session's live connections when it applies it.
func (c *deleteSession) apply(tx *sql.Tx, pos int64, at time.Time) (any, []Event, error) {
	res, err := tx.Exec(`DELETE FROM sessions WHERE id = ? AND user_id = ?`, c.ID, c.UserID)
	if err != nil {
		return nil, nil, err
	}
	if err := mustChange(res); err != nil {
		return nil, nil, err
	}
	e, err := appendEvent(tx, pos, TopicSessions, KindSessionEnded, at, SessionEnded{Session: c.ID, User: c.UserID})
	return nil, []Event{e}, err
}

// TopicSessions is the topic of events about sessions. No client reads it:
// its events tell every instance to close a session's live connections.
const TopicSessions = "sessions"

// KindSessionEnded is the kind of the event of a session that ended
// (signed out, revoked, replaced by a new sign-in, or idle).
const KindSessionEnded = "session_end"

// SessionEnded is the data of a KindSessionEnded event.
type SessionEnded struct {
	Session int64 `json:"session"`
	User    int64 `json:"user"`
}

// hashOf is how secrets (session cookies, API tokens) are stored. They are
// 256 random bits, so a fast hash is enough: there is nothing to guess.
func hashOf(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// uniqueErr turns a UNIQUE constraint failure into ErrExists about what.
func uniqueErr(err error, what string) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique {
		return fmt.Errorf("%w: %s is taken", ErrExists, what)
	}
	return err
}

// mustChange returns ErrNotFound when a statement changed no row.
func mustChange(res sql.Result) error {
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		return ErrNotFound
	}
	return err
}
