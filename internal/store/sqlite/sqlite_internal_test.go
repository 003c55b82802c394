package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// TestPragmas checks the settings the package promises: durability, WAL,
// foreign keys and lock waits on the writer, and read-only readers.
func TestPragmas(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "drover.db"))
	defer s.Close()
	for _, tc := range []struct {
		pool   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer", s.w, "journal_mode", "wal"},
		{"writer", s.w, "synchronous", "2"}, // FULL
		{"writer", s.w, "foreign_keys", "1"},
		{"writer", s.w, "busy_timeout", "5000"},
		{"reader", s.r, "journal_mode", "wal"},
		{"reader", s.r, "query_only", "1"},
		{"reader", s.r, "busy_timeout", "5000"},
	} {
		var got string
		if err := tc.db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("%s PRAGMA %s: %v", tc.pool, tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("%s PRAGMA %s = %s, want %s", tc.pool, tc.pragma, got, tc.want)
		}
	}
	if s.w.Stats().MaxOpenConnections != 1 {
		t.Errorf("writer pool allows %d connections, want 1", s.w.Stats().MaxOpenConnections)
	}
}

// TestReadersDoNotBlockWriter holds a read transaction open across a write:
// under WAL the write commits at once and the reader keeps its snapshot.
func TestReadersDoNotBlockWriter(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "drover.db"))
	defer s.Close()
	ctx := t.Context()

	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	count := func() int {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM jobs").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count() // the snapshot starts here

	// A write that had to wait for the reader would run into this deadline.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	j := &drover.Job{ID: drover.NewID("job"), Spec: drover.JobSpec{Command: drover.Command{"true"}}, CreatedAt: time.Unix(0, 1).UTC()}
	if _, _, err := s.CreateJob(wctx, j, ""); err != nil {
		t.Fatalf("CreateJob while a read transaction is open: %v", err)
	}
	if after := count(); after != before {
		t.Errorf("the open read transaction saw the new job: %d jobs, then %d", before, after)
	}
	if _, err := s.GetJob(ctx, j.ID); err != nil {
		t.Errorf("a new read does not see the committed job: %v", err)
	}
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	versions := func(s *Store) []int {
		rows, err := s.w.QueryContext(t.Context(), "SELECT version FROM schema_migrations ORDER BY version")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var vs []int
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			vs = append(vs, v)
		}
		return vs
	}

	for range 2 { // the second open finds everything applied
		s := openAt(t, path)
		vs := versions(s)
		if len(vs) != len(ms) {
			t.Errorf("schema_migrations = %v, want versions 1..%d", vs, len(ms))
		}
		for i, v := range vs {
			if v != i+1 {
				t.Errorf("schema_migrations = %v, want versions 1..%d", vs, len(ms))
				break
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// A database migrated by a newer drover is refused.
	s := openAt(t, path)
	if _, err := s.w.ExecContext(t.Context(), "INSERT INTO schema_migrations (version, name) VALUES (?, 'future')", len(ms)+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(t.Context(), path, Options{}); err == nil || !strings.Contains(err.Error(), "newer drover") {
		if s != nil {
			s.Close()
		}
		t.Errorf("Open of a newer schema: %v, want a refusal naming a newer drover", err)
	}
}

// TestQueueRankMigration checks that migration 0009 gives the queued jobs
// of an existing store their place: their submission if only the fleet
// ever requeued them, their last queuedAt if they were retried for their
// own failure.
func TestQueueRankMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	s := openAt(t, path)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	requeued := created.Add(time.Hour)
	var ids []string // fleet-requeued, retried, submitted between them
	for _, at := range []time.Time{created, created, created.Add(30 * time.Minute)} {
		j := &drover.Job{ID: drover.NewID("job"), Spec: drover.JobSpec{Command: drover.Command{"true"}}, CreatedAt: at}
		if _, _, err := s.CreateJob(t.Context(), j, ""); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	ns := strconv.FormatInt(requeued.UnixNano(), 10)
	// The store as 0008 left it.
	undoBundleChunks(t, s)
	for _, q := range []string{
		`DELETE FROM schema_migrations WHERE version = 9`,
		`DROP INDEX jobs_queue`,
		`ALTER TABLE jobs DROP COLUMN queue_rank`,
		`CREATE INDEX jobs_queue ON jobs (priority DESC, queued_at, id) WHERE state = 'QUEUED'`,
		`UPDATE jobs SET queued_at = ` + ns + `, fleet_retries = 1 WHERE id = '` + ids[0] + `'`,
		`UPDATE jobs SET queued_at = ` + ns + `, job_retries = 1 WHERE id = '` + ids[1] + `'`,
	} {
		if _, err := s.w.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()

	s = openAt(t, path)
	defer s.Close()
	js, err := s.QueuedJobs(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range js {
		got = append(got, j.ID)
	}
	if want := []string{ids[0], ids[2], ids[1]}; !slices.Equal(got, want) {
		t.Fatalf("QueuedJobs after the migration = %v, want %v", got, want)
	}
	for i, want := range []time.Time{created, created.Add(30 * time.Minute), requeued} {
		if !js[i].QueueRank.Equal(want) {
			t.Errorf("job %s: QueueRank %s after the migration, want %s", js[i].ID, js[i].QueueRank, want)
		}
	}
}

// undoBundleChunks takes a store without bundles back to before migration
// 0010: the bytes of each bundle in its own row.
func undoBundleChunks(t *testing.T, s *Store) {
	t.Helper()
	for _, q := range []string{
		`DELETE FROM schema_migrations WHERE version = 10`,
		`DROP TRIGGER bundles_delete_blob`,
		`DROP INDEX bundles_blob`,
		`ALTER TABLE bundles ADD COLUMN data BLOB NOT NULL DEFAULT x''`,
		`ALTER TABLE bundles DROP COLUMN blob`,
		`DROP TABLE bundle_chunks`,
		`DROP TABLE bundle_blobs`,
	} {
		if _, err := s.w.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestBundleChunksMigration checks that migration 0010 keeps the bundles
// stored before it, byte for byte, as chunks.
func TestBundleChunksMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	s := openAt(t, path)
	undoBundleChunks(t, s)
	sizes := []int{0, 1, chunkSize, 5*chunkSize/2 + 3}
	bundles := map[string][]byte{}
	for i, n := range sizes {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(i*31 + j*7 + j>>11)
		}
		sha := strings.Repeat(strconv.Itoa(i), 64)
		bundles[sha] = data
		if _, err := s.w.ExecContext(t.Context(), `INSERT INTO bundles (sha256, size, files, unpacked, created_at, uploaded_at, data) VALUES (?, ?, 1, 1, 1, 1, ?)`, sha, n, data); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = openAt(t, path)
	defer s.Close()
	for sha, want := range bundles {
		r, err := s.OpenBundle(t.Context(), sha)
		if err != nil {
			t.Fatalf("OpenBundle %s: %v", sha, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("bundle of %d bytes read back as %d, %v", len(want), len(got), err)
		}
	}
	var chunks int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM bundle_chunks`).Scan(&chunks); err != nil || chunks != 1+1+1+3 {
		t.Errorf("%d chunks, %v; want 6", chunks, err)
	}
}

// TestOrphanBlobsRemoved: the chunks of an upload cut short by the process
// stopping (a blob no bundle names) go once they are as old as an unused
// bundle would be, not before.
func TestOrphanBlobsRemoved(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "drover.db"))
	defer s.Close()
	began := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`INSERT INTO bundle_blobs (id, created_at) VALUES (7, ` + strconv.FormatInt(began.UnixNano(), 10) + `)`,
		`INSERT INTO bundle_chunks (blob, n, data) VALUES (7, 0, x'00ff')`,
	} {
		if _, err := s.w.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	count := func() (n int) {
		t.Helper()
		if err := s.r.QueryRowContext(t.Context(), `SELECT (SELECT count(*) FROM bundle_blobs) + (SELECT count(*) FROM bundle_chunks)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := s.DeleteUnusedBundles(t.Context(), began, 10); err != nil || count() != 2 {
		t.Fatalf("an upload begun at the cut-off: %v, %d rows left, want 2", err, count())
	}
	if _, err := s.DeleteUnusedBundles(t.Context(), began.Add(time.Nanosecond), 10); err != nil || count() != 0 {
		t.Fatalf("an upload begun before the cut-off: %v, %d rows left, want 0", err, count())
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, tc := range []struct {
		path string
		opts Options
	}{
		{"", Options{}},
		{":memory:", Options{}},
		{"file:x.db", Options{}},
		{filepath.Join(t.TempDir(), "x.db?mode=ro"), Options{}},
		{filepath.Join(t.TempDir(), "x.db"), Options{BusyTimeout: time.Microsecond}},
		{filepath.Join(t.TempDir(), "x.db"), Options{ReadConns: -1}},
		{filepath.Join(t.TempDir(), "missing", "dir", "x.db"), Options{}},
	} {
		s, err := Open(t.Context(), tc.path, tc.opts)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q, %+v) succeeded", tc.path, tc.opts)
		}
	}
}

func TestInterpretError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{nil, ""},
		{sql.ErrNoRows, drover.ENOTFOUND},
		{drover.Errorf(drover.ECONFLICT, "x"), drover.ECONFLICT},
		{context.Canceled, drover.EINTERNAL},
	} {
		if got := drover.ErrorCode(interpretError(tc.err)); got != tc.code {
			t.Errorf("interpretError(%v) code = %q, want %q", tc.err, got, tc.code)
		}
	}
}

// TestBusy opens a second store on the same file while the first holds the
// write lock: the second gives up after its BusyTimeout with EUNAVAILABLE.
func TestBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	s1 := openAt(t, path)
	defer s1.Close()
	s2, err := Open(t.Context(), path, Options{BusyTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()

	tx, err := s1.w.BeginTx(t.Context(), nil) // BEGIN IMMEDIATE: takes the lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	j := &drover.Job{ID: drover.NewID("job"), Spec: drover.JobSpec{Command: drover.Command{"true"}}, CreatedAt: time.Unix(0, 1).UTC()}
	_, _, err = s2.CreateJob(t.Context(), j, "")
	if code := drover.ErrorCode(err); code != drover.EUNAVAILABLE {
		t.Errorf("CreateJob while another process writes: %v (code %q), want %q", err, code, drover.EUNAVAILABLE)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s2.CreateJob(t.Context(), j, ""); err != nil {
		t.Errorf("CreateJob once the lock is free: %v", err)
	}
}

// TestQueryPlans guards the indexes: no registered statement scans a whole
// table that grows with history (jobs, attempts, output), and the listings
// that page or stream come out of an index already in order, without a
// sort of everything they match.
func TestQueryPlans(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "drover.db"))
	defer s.Close()
	ordered := map[string]bool{qQueuedJobs: true, qListJobs: true, qListJobsIn: true, qReadOutput: true, qJobAttempts: true}
	fullScan := regexp.MustCompile(`^SCAN (jobs|attempts|output|a|j)$`)
	numbered := regexp.MustCompile(`\?(\d+)`)
	for _, q := range queries {
		// Bind as many (meaningless) values as the statement has parameters.
		n := strings.Count(q.text, "?")
		if m := numbered.FindAllStringSubmatch(q.text, -1); m != nil {
			n = 0
			for _, g := range m {
				k, _ := strconv.Atoi(g[1])
				n = max(n, k)
			}
		}
		args := make([]any, n)
		for i := range args {
			args[i] = "x"
		}
		rows, err := s.w.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q.text, args...)
		if err != nil {
			t.Fatalf("explain %q: %v", q.text, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if fullScan.MatchString(step) || ordered[q.text] && strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("plan of %q:\n  %s", strings.Join(strings.Fields(q.text), " "), strings.Join(plan, "\n  "))
				break
			}
		}
	}
}

// TestReadBackEqualsDecoding checks that readBack gives a submitted spec
// exactly as decoding its stored JSON would, and shares nothing with it.
func TestReadBackEqualsDecoding(t *testing.T) {
	for i, sp := range []drover.JobSpec{
		{Command: drover.Command{"true"}},
		{Name: "a <b> & c", Command: drover.Command{"sh", "-c", "echo \"hi\"\n\t\u2028"}, Image: "busybox", Executor: "docker",
			Bundle: "ab12", Env: map[string]string{"K": "v", "": ""}, Resources: drover.Resources{CPU: 250, MemoryMB: 64},
			Timeout: drover.Duration(90*time.Minute + 3*time.Nanosecond), MaxRetries: 3, RetryOn: []drover.Reason{drover.ReasonExitCode},
			Constraints: map[string]string{"zone": "a"}, Priority: -5, Network: true},
		{Command: drover.Command{"x", ""}, Env: map[string]string{}, Constraints: map[string]string{}, RetryOn: []drover.Reason{}},
		{Image: "busybox", Command: drover.Command{}}, // the image's entrypoint: "command": []
		{Image: "busybox"},                            // "command": null
	} {
		var decoded drover.JobSpec
		if err := json.Unmarshal([]byte(encodeJSON(&sp)), &decoded); err != nil {
			t.Fatal(err)
		}
		got, ok := readBack(&sp)
		if !ok || !reflect.DeepEqual(got, decoded) {
			t.Errorf("spec %d: readBack = %#v, %v; decoding gives %#v", i, got, ok, decoded)
		}
		if len(sp.Command) > 0 {
			got.Command[0] = "changed"
			if sp.Command[0] == "changed" {
				t.Errorf("spec %d: readBack shares the command", i)
			}
		}
		if len(sp.Env) > 0 {
			got.Env["K"] = "changed"
			if sp.Env["K"] == "changed" {
				t.Errorf("spec %d: readBack shares the env", i)
			}
		}
	}
	// JSON replaces bytes that are not UTF-8: readBack leaves that to it.
	for _, sp := range []drover.JobSpec{
		{Name: "bad\xff", Command: drover.Command{"true"}},
		{Command: drover.Command{"echo", "\xc3"}},
		{Command: drover.Command{"true"}, Env: map[string]string{"K\xfe": "v"}},
	} {
		if _, ok := readBack(&sp); ok {
			t.Errorf("readBack(%q) took a string that is not UTF-8", sp.Command)
		}
	}
}
