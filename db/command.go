package db

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// Command is one durable write as data: what to change, and when. Applying
// a command reads nothing but the database and the command itself (its At
// stands for "now"), so every instance that applies the same commands in
// the same order writes the same rows: that is what lets several instances
// share one log (issue #13) and one process use the same path with its own
// events table as the log.
type Command struct {
	// ID names the command for good: the process that made it and a
	// counter. A retried publish carries the same ID, so the shared log
	// stores it once, and the caller waiting for its outcome finds it.
	ID string
	// At is when the command was made, to the millisecond, in UTC. It is
	// the "now" of applying it.
	At time.Time
	// Op is the change.
	Op Op
}

// Op is the change a Command makes. Every write method of the Store has
// one; they are the only way rows change (pruning aside, which keeps
// derived data small and is each instance's own business).
type Op interface {
	// kind names the op in the log; it never changes once released.
	kind() string
	// apply makes the op's rows inside tx, as of at. Any event it appends
	// takes position pos. It returns the method's result, the events it
	// appended, and a refusal (an error wrapping ErrInvalid, ErrExists or
	// ErrNotFound), which rolls back the op alone and is the same on every
	// instance. Any other error is a failure of the database, not of the
	// command.
	apply(tx *sql.Tx, pos int64, at time.Time) (result any, events []Event, err error)
}

// commandVersion is the version of the encoding below. A reader refuses a
// command of a newer version (an instance running a newer Beacon wrote it)
// instead of guessing.
const commandVersion = 1

// ops makes an empty Op of each kind, for decoding. Every Op is listed. Ops
// are pointers to structs, whether a write method made them or the log
// decoded them.
var ops = map[string]func() Op{}

// registerOp lists a kind of Op for decoding; each domain file registers
// its own in an init function.
func registerOp(newOp func() Op) {
	k := newOp().kind()
	if _, dup := ops[k]; dup {
		panic("db: two ops of kind " + k)
	}
	ops[k] = newOp
}

// commandJSON is a Command on the wire: {"v":1,"id":…,"at":…,"op":kind,"data":{…}}.
type commandJSON struct {
	V    int             `json:"v"`
	ID   string          `json:"id"`
	At   int64           `json:"at"` // unix ms
	Op   string          `json:"op"`
	Data json.RawMessage `json:"data"`
}

// EncodeCommand returns the bytes of c as the shared log stores them.
func EncodeCommand(c Command) ([]byte, error) {
	data, err := json.Marshal(c.Op)
	if err != nil {
		return nil, err
	}
	return json.Marshal(commandJSON{V: commandVersion, ID: c.ID, At: c.At.UnixMilli(), Op: c.Op.kind(), Data: data})
}

// ErrNewerCommand is returned by DecodeCommand for a command this program
// cannot apply: it was written by a newer Beacon.
var ErrNewerCommand = errors.New("db: command from a newer Beacon; upgrade this instance")

// DecodeCommand reads a command encoded by EncodeCommand.
func DecodeCommand(b []byte) (Command, error) {
	var w commandJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return Command{}, fmt.Errorf("db: malformed command: %w", err)
	}
	if w.V > commandVersion {
		return Command{}, fmt.Errorf("%w (version %d, this one reads %d)", ErrNewerCommand, w.V, commandVersion)
	}
	newOp, ok := ops[w.Op]
	if !ok {
		return Command{}, fmt.Errorf("%w (unknown op %q)", ErrNewerCommand, w.Op)
	}
	op := newOp()
	if err := json.Unmarshal(w.Data, op); err != nil {
		return Command{}, fmt.Errorf("db: malformed %s command: %w", w.Op, err)
	}
	return Command{ID: w.ID, At: fromMilli(w.At), Op: op}, nil
}

// commandIDs makes the IDs of one process's commands: a random prefix made
// at start, and a counter.
type commandIDs struct {
	prefix string
	n      atomic.Uint64
}

func newCommandIDs() *commandIDs {
	var b [6]byte
	rand.Read(b[:]) // never fails
	return &commandIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (c *commandIDs) next() string { return c.prefix + strconv.FormatUint(c.n.Add(1), 10) }

// isRefusal reports whether err is an op's refusal (the same on every
// instance) rather than a failure of the database.
func isRefusal(err error) bool {
	return errors.Is(err, ErrInvalid) || errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound) ||
		errors.Is(err, ErrNotFirst) || errors.Is(err, ErrLastAdmin)
}
