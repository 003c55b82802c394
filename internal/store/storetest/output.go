package storetest

import (
	"bytes"
	"fmt"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

func chunk(seq int64, s drover.Stream, data string) drover.OutputChunk {
	return drover.OutputChunk{Seq: seq, Stream: s, Data: []byte(data)}
}

// wantChunks compares stored chunks with those expected, and checks their
// ids increase. It compares the attempt, seq, stream and data of each.
func wantChunks(f *fixture, what string, got []drover.StoredChunk, want []drover.StoredChunk) {
	t := f.t
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d chunks, want %d: %s", what, len(got), len(want), fmtChunks(got))
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.AttemptID != w.AttemptID || g.AttemptN != w.AttemptN || g.Seq != w.Seq || g.Stream != w.Stream || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("%s: chunk %d = %s, want %s", what, i, fmtChunks(got[i:i+1]), fmtChunks(want[i:i+1]))
		}
		if !w.Time.IsZero() && !g.Time.Equal(w.Time) {
			t.Errorf("%s: chunk %d time = %s, want %s", what, i, g.Time, w.Time)
		}
		if i > 0 && g.ID <= got[i-1].ID {
			t.Errorf("%s: chunk ids not increasing: %d after %d", what, g.ID, got[i-1].ID)
		}
	}
}

func fmtChunks(cs []drover.StoredChunk) string {
	var b bytes.Buffer
	for _, c := range cs {
		fmt.Fprintf(&b, "[id %d %s n%d seq %d %s %q] ", c.ID, c.AttemptID, c.AttemptN, c.Seq, c.Stream, c.Data)
	}
	return b.String()
}

func (f *fixture) readAll(jobID string) []drover.StoredChunk {
	f.t.Helper()
	cs, err := f.s.ReadOutput(f.ctx, jobID, 0, "", 0)
	if err != nil {
		f.t.Fatalf("ReadOutput: %v", err)
	}
	return cs
}

func testAppendOutput(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j, a := f.running(w.ID)

	t1, t2 := at(3*time.Second+1), at(4*time.Second+2)
	jobID, err := f.s.AppendOutput(f.ctx, a.ID, []drover.OutputChunk{
		chunk(1, drover.Stdout, "hello\n"),
		chunk(2, drover.Stderr, "warning\n"),
		chunk(3, drover.Stdout, "world\n"),
	}, t1)
	if err != nil {
		t.Fatalf("AppendOutput: %v", err)
	}
	if jobID != j.ID {
		t.Errorf("AppendOutput returned job %q, want %q", jobID, j.ID)
	}
	// A retried post of 2 and 3 brings one new chunk, 4. Each is stored
	// once, and the first copy wins.
	if _, err := f.s.AppendOutput(f.ctx, a.ID, []drover.OutputChunk{
		chunk(2, drover.Stderr, "warning\n"),
		chunk(3, drover.Stdout, "WORLD\n"),
		chunk(4, drover.Stdout, "bye\n"),
	}, t2); err != nil {
		t.Fatalf("AppendOutput of a retried post: %v", err)
	}
	wantChunks(f, "after a retried post", f.readAll(j.ID), []drover.StoredChunk{
		{AttemptID: a.ID, AttemptN: 1, Seq: 1, Stream: drover.Stdout, Data: []byte("hello\n"), Time: t1},
		{AttemptID: a.ID, AttemptN: 1, Seq: 2, Stream: drover.Stderr, Data: []byte("warning\n"), Time: t1},
		{AttemptID: a.ID, AttemptN: 1, Seq: 3, Stream: drover.Stdout, Data: []byte("world\n"), Time: t1},
		{AttemptID: a.ID, AttemptN: 1, Seq: 4, Stream: drover.Stdout, Data: []byte("bye\n"), Time: t2},
	})
	if got, want := f.job(j.ID).OutputBytes, int64(len("hello\nwarning\nworld\nbye\n")); got != want {
		t.Errorf("OutputBytes = %d, want %d (re-sent chunks not counted)", got, want)
	}

	// Binary data survives, and an empty batch is fine.
	bin := []byte{0, 0xff, '\n', 0x80, 0}
	if _, err := f.s.AppendOutput(f.ctx, a.ID, []drover.OutputChunk{{Seq: 5, Stream: drover.Stdout, Data: bin}}, t2); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.AppendOutput(f.ctx, a.ID, nil, t2); err != nil {
		t.Errorf("AppendOutput of no chunks: %v", err)
	}
	if cs := f.readAll(j.ID); len(cs) != 5 || !bytes.Equal(cs[4].Data, bin) {
		t.Errorf("binary chunk = %s, want %q", fmtChunks(cs[len(cs)-1:]), bin)
	}

	// Output may arrive before start: an assigned attempt is active.
	j2 := f.createJob(base)
	a2 := f.assign(at(time.Second), j2.ID, w.ID)
	if _, err := f.s.AppendOutput(f.ctx, a2.ID, []drover.OutputChunk{chunk(1, drover.Stderr, "pulling image\n")}, t1); err != nil {
		t.Errorf("AppendOutput of an assigned attempt: %v", err)
	}

	_, err = f.s.AppendOutput(f.ctx, "att_doesnotexist", []drover.OutputChunk{chunk(1, drover.Stdout, "x")}, t2)
	wantCode(t, "AppendOutput of an unknown attempt", err, drover.ENOTFOUND)
	f.end(a.ID, store.AttemptEnd{At: at(time.Minute), State: drover.AttemptCompleted, ExitCode: intp(0)},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)})
	_, err = f.s.AppendOutput(f.ctx, a.ID, []drover.OutputChunk{chunk(6, drover.Stdout, "late\n")}, at(2*time.Minute))
	wantCode(t, "AppendOutput of an ended attempt", err, drover.ECONFLICT)
	if cs := f.readAll(j.ID); len(cs) != 5 {
		t.Errorf("a refused AppendOutput stored output: %s", fmtChunks(cs))
	}
}

func testReadOutput(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j, a1 := f.running(w.ID)
	other, oa := f.running(w.ID)

	// Attempt 1 writes, fails and is retried; attempt 2 writes after it.
	if _, err := f.s.AppendOutput(f.ctx, a1.ID, []drover.OutputChunk{
		chunk(1, drover.Stdout, "a1 out 1\n"),
		chunk(2, drover.Stderr, "a1 err 2\n"),
	}, at(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.AppendOutput(f.ctx, oa.ID, []drover.OutputChunk{chunk(1, drover.Stdout, "other job\n")}, at(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	f.end(a1.ID, store.AttemptEnd{At: at(4 * time.Second), State: drover.AttemptFailed, ExitCode: intp(1), Reason: drover.ReasonExitCode},
		store.JobOutcome{State: drover.JobQueued, ExitCode: intp(1), Reason: drover.ReasonExitCode, JobRetry: true})
	a2 := f.assign(at(5*time.Second), j.ID, w.ID)
	if _, err := f.s.StartAttempt(f.ctx, a2.ID, at(6*time.Second), 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.AppendOutput(f.ctx, a2.ID, []drover.OutputChunk{
		chunk(1, drover.Stdout, "a2 out 1\n"),
		chunk(2, drover.Stderr, "a2 err 2\n"),
		chunk(3, drover.Stdout, "a2 out 3\n"),
	}, at(7*time.Second)); err != nil {
		t.Fatal(err)
	}

	all := []drover.StoredChunk{
		{AttemptID: a1.ID, AttemptN: 1, Seq: 1, Stream: drover.Stdout, Data: []byte("a1 out 1\n")},
		{AttemptID: a1.ID, AttemptN: 1, Seq: 2, Stream: drover.Stderr, Data: []byte("a1 err 2\n")},
		{AttemptID: a2.ID, AttemptN: 2, Seq: 1, Stream: drover.Stdout, Data: []byte("a2 out 1\n")},
		{AttemptID: a2.ID, AttemptN: 2, Seq: 2, Stream: drover.Stderr, Data: []byte("a2 err 2\n")},
		{AttemptID: a2.ID, AttemptN: 2, Seq: 3, Stream: drover.Stdout, Data: []byte("a2 out 3\n")},
	}
	got := f.readAll(j.ID)
	wantChunks(f, "all output", got, all)
	if len(got) != len(all) {
		t.FailNow()
	}
	wantChunks(f, "other job", f.readAll(other.ID), []drover.StoredChunk{
		{AttemptID: oa.ID, AttemptN: 1, Seq: 1, Stream: drover.Stdout, Data: []byte("other job\n")},
	})

	for _, tc := range []struct {
		name    string
		afterID int64
		stream  drover.Stream
		limit   int
		want    []drover.StoredChunk
	}{
		{"after the second", got[1].ID, "", 0, all[2:]},
		{"after the last", got[4].ID, "", 0, nil},
		{"stdout", 0, drover.Stdout, 0, []drover.StoredChunk{all[0], all[2], all[4]}},
		{"stderr after the second", got[1].ID, drover.Stderr, 0, []drover.StoredChunk{all[3]}},
		{"limit 2", 0, "", 2, all[:2]},
		{"limit 2 after the first", got[0].ID, "", 2, all[1:3]},
		{"stdout limit 1 after the first", got[0].ID, drover.Stdout, 1, all[2:3]},
	} {
		cs, err := f.s.ReadOutput(f.ctx, j.ID, tc.afterID, tc.stream, tc.limit)
		if err != nil {
			t.Fatalf("ReadOutput %s: %v", tc.name, err)
		}
		wantChunks(f, "ReadOutput "+tc.name, cs, tc.want)
	}
	if cs, err := f.s.ReadOutput(f.ctx, "job_doesnotexist", 0, "", 0); err != nil && drover.ErrorCode(err) != drover.ENOTFOUND || len(cs) != 0 {
		t.Errorf("ReadOutput of an unknown job = %s, %v; want no chunks", fmtChunks(cs), err)
	}
}
