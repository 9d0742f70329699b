package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

// Secret returns the database's server secret: 32 random bytes made the
// first time it is asked for and kept in the meta table, so widget tokens
// outlive restarts and every process on this database signs alike. Two
// processes asking at once agree: each inserts only if the key is missing,
// then both read the one that won.
func (s *Store) Secret(ctx context.Context) ([]byte, error) {
	var b [32]byte
	rand.Read(b[:])
	_, err := s.do(ctx, time.Time{}, &offerSecret{Secret: hex.EncodeToString(b[:])})
	if err != nil {
		return nil, fmt.Errorf("db: store the secret: %w", err)
	}
	var v string
	if err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'secret'`).Scan(&v); err != nil {
		return nil, fmt.Errorf("db: read the secret: %w", s.readErr(err))
	}
	secret, err := hex.DecodeString(v)
	if err != nil || len(secret) < 32 {
		return nil, fmt.Errorf("db: the stored secret is damaged (not 32+ bytes of hex); delete meta key 'secret' to make a new one")
	}
	return secret, nil
}

// offerSecret is the command of Secret: it offers a secret, which is kept
// only if the database has none. In a cluster the first offer in the log
// wins on every instance, so all sign alike.
type offerSecret struct {
	Secret string `json:"secret"`
}

func init() { registerOp(func() Op { return new(offerSecret) }) }

func (*offerSecret) kind() string { return "secret" }

func (c *offerSecret) apply(tx *sql.Tx, _ int64, _ time.Time) (any, []Event, error) {
	_, err := tx.Exec(`INSERT OR IGNORE INTO meta (key, value) VALUES ('secret', ?)`, c.Secret)
	return nil, nil, err
}
