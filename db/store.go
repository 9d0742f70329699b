package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3" // also registers the "sqlite3" driver
)

// ErrNotFound is returned when a requested record does not exist.
var ErrNotFound = errors.New("db: not found")

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("db: store is closed")

// ErrInvalid is returned, wrapped with the reason, for input the store refuses.
var ErrInvalid = errors.New("db: invalid input")

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// OnCommit is called after each commit that added events, with every
	// event of the group in position order. It runs on the writer goroutine
	// before the writes return, so it must not block and must not call the
	// Store's write methods or Close. It owns the slice. It may be nil.
	OnCommit func([]Event)
	// MaxBatch is the most writes committed in one transaction; default 256.
	MaxBatch int
	// Retention is how many of the newest events the log keeps; default
	// 100,000. The writer prunes older ones every min(Retention, 1,000)
	// appends, so between prunes it holds up to that many more.
	Retention int
	// Shared, when set, is the log this instance shares with others
	// (cluster mode): writes are published to it, and Open starts a loop
	// that applies it to this database in order. Nil: the events table is
	// the log, as for one process.
	Shared Shared
	// Logger hears what Open did to the file (a mode it restricted). Nil
	// logs nothing.
	Logger *slog.Logger
	// SkipCheck skips the integrity check (PRAGMA quick_check) with which
	// Open refuses a damaged file, to serve what can still be read.
	SkipCheck bool
	// PageLimit, if set, is read before every group commit and caps the
	// file at that many pages (PRAGMA max_page_count): a disk that tests can
	// fill, and free again.
	PageLimit func() int
}

func (o Options) withDefaults() Options {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Retention <= 0 {
		o.Retention = 100_000
	}
	return o
}

// Store is Beacon's database. Its methods are safe for concurrent use.
type Store struct {
	w     *sql.DB // one connection, used only by the writer goroutine
	r     *sql.DB // read-only pool
	epoch string
	opts  Options

	mu     sync.RWMutex       // held for reading while sending on reqs; for writing by Close
	closed atomic.Bool        // set under mu; reqs is closed with it
	reqs   chan *writeRequest // requests to the writer goroutine
	done   chan struct{}

	closeOnce sync.Once
	closeErr  error

	groups atomic.Int64 // group transactions the writer has run; read by tests
	ids    *commandIDs
	// follower is set on a database that follows a cluster's log, opened
	// without it: it can be read, but writes are refused (ErrFollower).
	follower bool

	// Shared mode (Options.Shared).
	shared     Shared
	following  context.Context // ended by Close: the apply loop ends
	stopFollow context.CancelFunc
	waitMu     sync.Mutex              // guards waiting, followErr, appliedTo and progress
	waiting    map[string]chan outcome // this instance's writes waiting to be applied, by command ID
	followErr  error                   // why the apply loop is stuck, or nil
	from       int64                   // the position the apply loop starts at
	seeded     bool                    // this database seeded the cluster's log at Open
	appliedTo  int64                   // the last position the apply loop has applied
	progress   chan struct{}           // closed when appliedTo moves; nil while nobody waits
	startOnce  sync.Once
	// fault is the refusal (disk full, file read-only, I/O error) of the
	// last group whose writes the disk refused, until a group commits
	// without one; the writer stores it, WriteError reads it.
	fault atomic.Pointer[unavailableError]

	// Owned by the writer goroutine.
	head       int64 // the newest position given when Open ran
	sincePrune int   // events appended since the last prune
	lastPrune  time.Time
}

// Open opens the SQLite database at path, creating it if missing, checks
// that it is whole, brings its schema up to date and starts the writer
// goroutine. Close must be called to stop it.
//
// The file is made 0600 (an existing one loses any permission for others,
// logged to Options.Logger): it holds password hashes and the server's
// secret. An error says what is wrong and where, and a failed Open leaves
// behind nothing it made: not the file, nor its -wal and -shm.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	created, existing, err := prepareFile(path, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	s, err := open(ctx, path, opts)
	if err != nil {
		removeLeftovers(path, created, existing)
		return nil, err
	}
	return s, nil
}

// open is Open once the file is there.
func open(ctx context.Context, path string, opts Options) (*Store, error) {
	w, err := sql.Open("sqlite3", dsn(path,
		"_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=on&_busy_timeout=5000&_txlock=immediate&_stmt_cache_size="+stmtCache))
	if err != nil {
		return nil, fmt.Errorf("db: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	if !opts.SkipCheck {
		if err := quickCheck(ctx, w, path); err != nil {
			w.Close()
			return nil, err
		}
	}
	epoch, err := migrate(ctx, w)
	if err == nil {
		err = keyNames(ctx, w)
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("db: open %s: %w", path, asUnavailable(err))
	}

	// The reader pool opens only now: mode=ro cannot create the file.
	r, err := sql.Open("sqlite3", dsn(path, "mode=ro&_foreign_keys=on&_busy_timeout=5000&_stmt_cache_size="+stmtCache))
	if err == nil {
		n := max(4, runtime.GOMAXPROCS(0))
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		err = r.PingContext(ctx)
	}
	if err != nil {
		if r != nil {
			r.Close()
		}
		w.Close()
		return nil, fmt.Errorf("db: open %s for reading: %w", path, err)
	}

	var head int64
	if err := w.QueryRowContext(ctx, `SELECT `+headSQL).Scan(&head); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("db: open %s: read the log's head: %w", path, err)
	}
	s := &Store{
		w:     w,
		r:     r,
		epoch: epoch,
		opts:  opts,
		reqs:  make(chan *writeRequest, opts.MaxBatch),
		done:  make(chan struct{}),
		ids:   newCommandIDs(),
		head:  head,
	}
	if opts.Shared == nil {
		// A database that has followed a cluster's log must not take writes
		// of its own: its rows would no longer be the log's, and every
		// later command would apply differently here.
		applied, err := appliedPosition(w)
		if err != nil {
			r.Close()
			w.Close()
			return nil, fmt.Errorf("db: open %s: read the applied position: %w", path, err)
		}
		s.follower = applied > 0
		go s.run()
		return s, nil
	}
	from, err := s.joinShared(ctx, path)
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	s.shared, s.waiting, s.from, s.appliedTo = opts.Shared, map[string]chan outcome{}, from, from-1
	s.following, s.stopFollow = context.WithCancel(context.Background())
	return s, nil
}

// Start starts applying the shared log (Options.Shared), from the position
// after the last one this database applied. OnCommit is first called after
// Start, so the caller can make what OnCommit needs after Open (the epoch
// of a shared log is known only then). Writes wait for it: they return once
// their command is applied here. Without a shared log it does nothing: the
// writer started with Open. Calling it again does nothing.
func (s *Store) Start() {
	if s.shared == nil {
		return
	}
	s.startOnce.Do(func() { go s.follow(s.from) })
}

// quickCheck runs SQLite's PRAGMA quick_check on the file (it reads every
// page: a few seconds per gigabyte) and returns ErrDamaged, with the
// check's first complaint, unless the file is whole.
func quickCheck(ctx context.Context, w *sql.DB, path string) error {
	var first string
	err := w.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&first)
	if err != nil {
		var se sqlite3.Error
		if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
			return fmt.Errorf("%w: %s: %v", ErrDamaged, path, err)
		}
		return fmt.Errorf("db: check %s: %w", path, asUnavailable(err))
	}
	if first == "ok" {
		return nil
	}
	// One complaint may span lines, under a heading ("*** in database main ***").
	for line := range strings.Lines(first) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "***") {
			first = line
			break
		}
	}
	return fmt.Errorf("%w: %s: %s", ErrDamaged, path, strings.TrimSpace(first))
}

// dsn is a go-sqlite3 URI for path with params, the path escaped so that a
// '?', '#' or '%' in a file name cannot be read as part of the query.
func dsn(path, params string) string {
	u := url.URL{Path: path}
	return "file:" + u.EscapedPath() + "?" + params
}

// Close stops accepting writes, waits for every write already started to
// commit, stops the writer goroutine and closes the database. Calling it
// again returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock() // waits for writers that are sending on reqs
		s.waitMu.Lock()
		s.closed.Store(true)
		s.waitMu.Unlock()
		close(s.reqs)
		s.mu.Unlock()
		if s.stopFollow != nil {
			s.stopFollow()
			s.startOnce.Do(func() { close(s.done) }) // never started
		}
		<-s.done
		// Readers first, so the writer's connection is the last one and
		// checkpoints the WAL into the main file.
		s.closeErr = errors.Join(s.r.Close(), s.w.Close())
	})
	return s.closeErr
}

// Epoch returns the random id made when the database was created. A position
// means the same event only under the same epoch.
func (s *Store) Epoch() string { return s.epoch }

// readErr reports ErrClosed for a read that failed because the store was
// closed, and ErrUnavailable for one the file or the disk refused.
func (s *Store) readErr(err error) error {
	if err != nil && s.closed.Load() {
		return ErrClosed
	}
	return asUnavailable(err)
}

// WriteError returns the ErrUnavailable with which the disk refused the
// last writes (full, read-only, failing), until a write succeeds again; nil
// while writes go through. Nothing needs to happen for writes to work again
// once the cause is gone: the next one simply succeeds.
func (s *Store) WriteError() error {
	if f := s.fault.Load(); f != nil {
		return f
	}
	return nil
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate applies, in one transaction, every migration newer than the
// database's user_version, and returns the database's epoch.
func migrate(ctx context.Context, db *sql.DB) (string, error) {
	scripts, err := migrations()
	if err != nil {
		return "", err
	}
	var epoch string
	err = inTx(ctx, db, func(tx *sql.Tx) error {
		var version int
		if err := tx.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
			return err
		}
		if version > len(scripts) {
			return fmt.Errorf("schema version %d is newer than this program's %d", version, len(scripts))
		}
		for i := version; i < len(scripts); i++ {
			if _, err := tx.Exec(scripts[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
			if i == 0 { // the database is being created
				if _, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('epoch', ?)`, newEpoch()); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec("PRAGMA user_version = " + strconv.Itoa(len(scripts))); err != nil {
			return err
		}
		return tx.QueryRow(`SELECT value FROM meta WHERE key = 'epoch'`).Scan(&epoch)
	})
	return epoch, err
}

// migrations returns the embedded scripts in order; the file
// migrations/NNN_name.sql is script NNN, numbered from 1 without gaps.
func migrations() ([]string, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations") // sorted by name
	if err != nil {
		return nil, err
	}
	var scripts []string
	for _, e := range entries {
		n, _, _ := strings.Cut(e.Name(), "_")
		if v, err := strconv.Atoi(n); err != nil || v != len(scripts)+1 {
			return nil, fmt.Errorf("migration %s: want number %03d", e.Name(), len(scripts)+1)
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		scripts = append(scripts, string(b))
	}
	return scripts, nil
}

// newEpoch returns 16 random hex characters.
func newEpoch() string {
	var b [8]byte
	rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// inTx runs fn in a transaction and commits it if fn returns nil.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// stmtCache is how many prepared statements each connection keeps
// (go-sqlite3's _stmt_cache_size): a write runs the same few statements
// every time, and parsing them again was a tenth of an apply's CPU
// (BenchmarkApplyMessages). A statement is taken out of the cache while it
// runs, so two uses never share one.
const stmtCache = "64"
