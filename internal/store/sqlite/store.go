// Package sqlite is drover's embedded store. It implements store.Store on
// a single SQLite file. It uses the pure-Go driver modernc.org/sqlite, so
// the binary needs no cgo and stays static.
//
// The database runs in WAL mode with synchronous=FULL. A call that returns
// has its transaction on disk. A job therefore counts as submitted only
// once it would survive a power cut.
//
// Writes go through one connection and begin with BEGIN IMMEDIATE.
// Transactions then never deadlock on lock upgrades. They queue in the
// process rather than spin on SQLITE_BUSY. Concurrent write calls share one
// transaction, and so one wait for the disk. committer.go holds that group
// commit. A call that fails is rolled back alone. Reads use a
// separate pool. With WAL they never wait for the writer, nor make it wait.
//
// One process writes a file at a time. A second process opening the same
// file waits up to Options.BusyTimeout for each write.
//
// Commits reach the disk with fdatasync(2), as SQLite's own Linux builds
// do. The driver's default is fsync. fdatasync writes the data and the size
// needed to read it back, which is all a commit must have durable. It skips
// the file's timestamps, which makes each commit cheaper. The driver's
// switch is process-wide, and Open sets it.
//
// The numbered files in migrations/ create and upgrade the schema. They are
// embedded in the binary.
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Defaults for Options.
const (
	DefaultBusyTimeout  = 5 * time.Second
	DefaultMinReadConns = 4
)

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock held by another
	// process using the same file before it fails. Within one process the
	// writer is shared and never waits on SQLite locks. Defaults to 5s.
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool. It bounds how many reads run
	// at once, for API calls and output followers. Defaults to GOMAXPROCS,
	// at least 4.
	ReadConns int
	// OutputCap bounds the output kept per job. Past it the first and the
	// last OutputCap/2 bytes are kept (errors are at the end) and one chunk
	// in between says how much was dropped. Defaults to 16 MiB.
	OutputCap int64
}

// DefaultOutputCap is Options.OutputCap's default.
const DefaultOutputCap = 16 << 20

func (o *Options) fill() {
	o.OutputCap = cmp.Or(o.OutputCap, DefaultOutputCap)
	o.BusyTimeout = cmp.Or(o.BusyTimeout, DefaultBusyTimeout)
	o.ReadConns = cmp.Or(o.ReadConns, max(runtime.GOMAXPROCS(0), DefaultMinReadConns))
}

func (o *Options) validate() error {
	switch {
	case o.BusyTimeout < time.Millisecond:
		return fmt.Errorf("sqlite options: BusyTimeout %s is below a millisecond", o.BusyTimeout)
	case o.ReadConns < 1:
		return fmt.Errorf("sqlite options: ReadConns %d must be at least 1", o.ReadConns)
	}
	return nil
}

// Store is a store.Store on one SQLite file. It is safe for concurrent use.
type Store struct {
	w, r   *sql.DB
	wstmts map[string]*sql.Stmt // every registered query, on the write connection
	rstmts map[string]*sql.Stmt // the read-only queries, on the read pool

	outputCap int64 // see Options.OutputCap

	commits *committer // group commit of write calls: see write
	specs   *specCache // decoded job specs by job id
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it if needed) the database at path and brings its
// schema up to date. path is a file name; ":memory:" is refused because the
// read pool and the writer must share one database.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts.fill()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlite: path %q must be a plain file name (no \"file:\" URI, no '?', not :memory:)", path)
	}
	busy := opts.BusyTimeout.Milliseconds()
	if _, err := sqlite.Fdatasync(true); err != nil && !errors.Is(err, sqlite.ErrFdatasyncUnavailable) {
		return nil, fmt.Errorf("sqlite: commit with fdatasync: %w", err)
	}

	// The writer comes first: it switches the file to WAL (a persistent
	// setting) and migrates before any reader opens.
	wq := url.Values{}
	wq.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy))
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous(FULL)")
	wq.Add("_pragma", "foreign_keys(ON)")
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	// One connection: SQLite allows one writer at a time anyway, and
	// queueing in database/sql is cheaper than retrying on SQLITE_BUSY.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, outputCap: opts.OutputCap, commits: newCommitter(), specs: newSpecCache()}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}

	rq := url.Values{}
	rq.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy))
	rq.Add("_pragma", "query_only(ON)")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s.r = r

	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.startCommitter()
	return s, nil
}

// prepare prepares every registered query once per pool, before any
// transaction runs. Preparing later, from inside a write transaction,
// would wait for the one write connection that transaction holds.
func (s *Store) prepare(ctx context.Context) error {
	s.wstmts = make(map[string]*sql.Stmt, len(queries))
	s.rstmts = make(map[string]*sql.Stmt, len(queries))
	for _, q := range queries {
		st, err := s.w.PrepareContext(ctx, q.text)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q.text, err)
		}
		s.wstmts[q.text] = st
		if q.write {
			continue
		}
		st, err = s.r.PrepareContext(ctx, q.text)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q.text, err)
		}
		s.rstmts[q.text] = st
	}
	return nil
}

// Close closes both pools. Write calls already queued get their answers
// first; calls after Close fail with EUNAVAILABLE.
func (s *Store) Close() error {
	if s.commits.started() {
		s.closeCommitter()
	}
	var errs []error
	for _, m := range []map[string]*sql.Stmt{s.rstmts, s.wstmts} {
		for _, st := range m {
			errs = append(errs, st.Close())
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite store: %w", err)
	}
	return nil
}

// query is a registered SQL statement, prepared when the store opens.
type query struct {
	text  string
	write bool
}

// queries lists every statement the store runs; see readQuery and writeQuery.
var queries []query

// readQuery registers a statement that only reads: it is prepared on both
// pools, so it can run in a read or a write transaction.
func readQuery(text string) string {
	queries = append(queries, query{text: text})
	return text
}

// writeQuery registers a statement that writes: it runs only in write
// transactions.
func writeQuery(text string) string {
	queries = append(queries, query{text: text, write: true})
	return text
}

// session runs registered statements, in a transaction or directly on the
// read pool.
type session struct {
	ctx   context.Context
	tx    *sql.Tx              // nil: statements run on the pool
	stmts map[string]*sql.Stmt // the pool's prepared statements
	bound map[string]*sql.Stmt // stmts bound to tx, made on first use
	specs *specCache           // the store's decoded specs
}

func (x *session) stmt(q string) *sql.Stmt {
	st := x.stmts[q]
	if st == nil {
		// Every statement is registered in a package-level variable, so this
		// is a programming error that any test of the calling method finds.
		panic("sqlite: statement not registered for this pool: " + q)
	}
	if x.tx == nil {
		return st
	}
	if b := x.bound[q]; b != nil {
		return b
	}
	b := x.tx.StmtContext(x.ctx, st)
	if x.bound == nil {
		x.bound = make(map[string]*sql.Stmt)
	}
	x.bound[q] = b
	return b
}

func (x *session) exec(q string, args ...any) (sql.Result, error) {
	return x.stmt(q).ExecContext(x.ctx, args...)
}

func (x *session) query(q string, args ...any) (*sql.Rows, error) {
	return x.stmt(q).QueryContext(x.ctx, args...)
}

func (x *session) queryRow(q string, args ...any) *sql.Row {
	return x.stmt(q).QueryRowContext(x.ctx, args...)
}

// read runs fn on the read pool. Reads of several statements that must
// agree use readTx instead.
func (s *Store) read(ctx context.Context, fn func(x *session) error) error {
	return interpretError(fn(&session{ctx: ctx, stmts: s.rstmts, specs: s.specs}))
}

// readTx runs fn in a read transaction: one snapshot for all its statements.
func (s *Store) readTx(ctx context.Context, fn func(x *session) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return interpretError(fmt.Errorf("begin read: %w", err))
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	return interpretError(fn(&session{ctx: ctx, tx: tx, stmts: s.rstmts, specs: s.specs}))
}

// interpretError turns driver errors into domain errors, in one place:
//
//   - sql.ErrNoRows is ENOTFOUND
//   - a uniqueness violation is ECONFLICT
//   - a lock still held after BusyTimeout is EUNAVAILABLE
//
// Domain errors pass through. Anything else keeps its chain, and so reads
// as EINTERNAL. Methods that can name what is missing return their own
// ENOTFOUND before this fallback sees the error.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	var de *drover.Error
	if errors.As(err, &de) {
		return de
	}
	if errors.Is(err, sql.ErrNoRows) {
		return drover.Errorf(drover.ENOTFOUND, "not found")
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return drover.Errorf(drover.ECONFLICT, "already exists: %v", se)
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return drover.Errorf(drover.EUNAVAILABLE, "the database is busy: try again")
		}
	}
	return err
}

// notFound is the ENOTFOUND of a missing row, naming it.
func notFound(kind, id string) error {
	return drover.Errorf(drover.ENOTFOUND, "%s %s not found", kind, id)
}

// notFoundIfNoRows names what is missing when err is sql.ErrNoRows.
func notFoundIfNoRows(err error, kind, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(kind, id)
	}
	return err
}

// Times are stored as INTEGER unix nanoseconds, which covers the years 1678
// to 2262; nullable columns hold NULL for a nil *time.Time.

func unixNano(t time.Time) int64 { return t.UnixNano() }

func nullUnixNano(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromUnixNano(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func fromNullUnixNano(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromUnixNano(n.Int64)
	return &t
}

func nullInt(p *int) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*p), Valid: true}
}

func fromNullInt(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}
