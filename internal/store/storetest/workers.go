package storetest

import (
	"bytes"
	"reflect"
	"slices"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

func testWorkerCreateGet(f *fixture) {
	t := f.t
	in := &drover.Worker{
		ID:              drover.NewID("wrk"),
		Name:            "builder-1",
		Labels:          map[string]string{"zone": "eu-1", "gpu": "yes"},
		Executors:       []string{drover.ExecutorDocker, drover.ExecutorProcess},
		Capacity:        drover.Capacity{CPU: 16000, MemoryMB: 65536, Slots: 8},
		Usage:           drover.WorkerUsage{CPUPercent: 12.5, MemoryUsedMB: 1000, MemoryTotalMB: 65536, Load1: 0.75},
		State:           drover.WorkerReady,
		Version:         "1.2.3",
		RegisteredAt:    base,
		LastHeartbeatAt: base,
	}
	hash := []byte{0, 1, 2, 0xfe, 0xff}
	if err := f.s.CreateWorker(f.ctx, in, hash); err != nil {
		t.Fatalf("CreateWorker: %v", err)
	}
	w := f.worker(in.ID)
	if w.ID != in.ID || w.Name != in.Name || w.Version != in.Version || w.State != drover.WorkerReady {
		t.Errorf("worker = %s %q %q %s, want %s %q %q READY", w.ID, w.Name, w.Version, w.State, in.ID, in.Name, in.Version)
	}
	if !reflect.DeepEqual(w.Labels, in.Labels) || !slices.Equal(w.Executors, in.Executors) || w.Capacity != in.Capacity {
		t.Errorf("worker labels %v executors %v capacity %+v, want %v %v %+v", w.Labels, w.Executors, w.Capacity, in.Labels, in.Executors, in.Capacity)
	}
	if w.Usage != in.Usage {
		t.Errorf("worker usage = %+v, want %+v", w.Usage, in.Usage)
	}
	if !w.RegisteredAt.Equal(base) || !w.LastHeartbeatAt.Equal(base) {
		t.Errorf("worker RegisteredAt %s LastHeartbeatAt %s, want %s", w.RegisteredAt, w.LastHeartbeatAt, base)
	}
	if w.Allocated != (drover.Allocated{}) || len(w.Running) != 0 {
		t.Errorf("new worker Allocated %+v Running %v, want nothing", w.Allocated, w.Running)
	}

	got, err := f.s.WorkerSecretHash(f.ctx, in.ID)
	if err != nil || !bytes.Equal(got, hash) {
		t.Errorf("WorkerSecretHash = %x, %v; want %x", got, err, hash)
	}
	_, err = f.s.WorkerSecretHash(f.ctx, "wrk_doesnotexist")
	wantCode(t, "WorkerSecretHash of an unknown worker", err, drover.ENOTFOUND)
	_, err = f.s.GetWorker(f.ctx, "wrk_doesnotexist")
	wantCode(t, "GetWorker of an unknown worker", err, drover.ENOTFOUND)
	err = f.s.CreateWorker(f.ctx, in, hash)
	wantCode(t, "CreateWorker with an existing id", err, drover.ECONFLICT)
}

// A name belongs to one live worker at a time: a READY or DRAINING worker
// keeps it, a DOWN one gives it up for good once another takes it.
func testWorkerUniqueLiveNames(f *fixture) {
	t := f.t
	create := func(name string) error {
		w := &drover.Worker{ID: drover.NewID("wrk"), Name: name, Executors: []string{drover.ExecutorProcess},
			Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}, RegisteredAt: base}
		return f.s.CreateWorker(f.ctx, w, []byte("hash"))
	}
	ready := f.createWorker("taken")
	wantCode(t, "CreateWorker with a READY worker's name", create("taken"), drover.ECONFLICT)
	if _, err := f.s.SetWorkerState(f.ctx, ready.ID, drover.WorkerDraining); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "CreateWorker with a DRAINING worker's name", create("taken"), drover.ECONFLICT)
	if err := create("Taken"); err != nil {
		t.Errorf("CreateWorker with a name differing in case: %v", err)
	}
	if _, _, err := f.s.MarkWorkerDown(f.ctx, ready.ID, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := create("taken"); err != nil {
		t.Errorf("CreateWorker with a DOWN worker's name: %v", err)
	}
	ws, err := f.s.ListWorkers(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, w := range ws {
		if w.Name == "taken" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d workers named taken, want 2: the DOWN one and its successor", n)
	}
	// The DOWN one cannot come back under the name its successor holds.
	_, _, err = f.s.Heartbeat(f.ctx, ready.ID, at(time.Minute), drover.WorkerUsage{})
	wantCode(t, "Heartbeat of a DOWN worker whose name was taken", err, drover.ECONFLICT)
	if w := f.worker(ready.ID); w.State != drover.WorkerDown || !w.LastHeartbeatAt.Equal(base) {
		t.Errorf("after the refused heartbeat: %s, last heartbeat %s; want DOWN, unchanged", w.State, w.LastHeartbeatAt)
	}
}

func testListWorkers(f *fixture) {
	t := f.t
	b := f.createWorker("b")
	a := f.createWorker("a")
	c := f.createWorker("c")

	big := func(j *drover.Job) { j.Spec.Resources = drover.Resources{CPU: 1000, MemoryMB: 1024} }
	small := func(j *drover.Job) { j.Spec.Resources = drover.Resources{CPU: 250, MemoryMB: 64} }
	j1, _ := f.running(a.ID, big)
	j2 := f.createJob(base, small)
	f.assign(at(5*time.Second), j2.ID, a.ID) // assigned, not started: still allocated
	j3, _ := f.running(b.ID, big)
	_, done := f.running(b.ID, small)
	f.end(done.ID, store.AttemptEnd{At: at(time.Minute), State: drover.AttemptCompleted, ExitCode: intp(0)},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)})

	ws, err := f.s.ListWorkers(f.ctx)
	if err != nil {
		t.Fatalf("ListWorkers: %v", err)
	}
	var names []string
	for _, w := range ws {
		names = append(names, w.Name)
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Fatalf("ListWorkers names = %v, want [a b c] (by name)", names)
	}
	want := map[string]struct {
		alloc   drover.Allocated
		running []string
	}{
		a.ID: {drover.Allocated{CPU: 1250, MemoryMB: 1088, Slots: 2}, sorted(j1.ID, j2.ID)},
		b.ID: {drover.Allocated{CPU: 1000, MemoryMB: 1024, Slots: 1}, []string{j3.ID}},
		c.ID: {drover.Allocated{}, nil},
	}
	for _, w := range ws {
		wa := want[w.ID]
		if w.Allocated != wa.alloc {
			t.Errorf("worker %s Allocated = %+v, want %+v", w.Name, w.Allocated, wa.alloc)
		}
		if got := sorted(w.Running...); !slices.Equal(got, wa.running) {
			t.Errorf("worker %s Running = %v, want %v", w.Name, got, wa.running)
		}
		one := f.worker(w.ID)
		if one.Allocated != w.Allocated || !slices.Equal(sorted(one.Running...), sorted(w.Running...)) {
			t.Errorf("GetWorker(%s) = %+v %v, ListWorkers = %+v %v", w.Name, one.Allocated, one.Running, w.Allocated, w.Running)
		}
	}
	// Fleet is the same list without Running.
	fleet, err := f.s.Fleet(f.ctx)
	if err != nil {
		t.Fatalf("Fleet: %v", err)
	}
	if len(fleet) != len(ws) {
		t.Fatalf("Fleet has %d workers, ListWorkers %d", len(fleet), len(ws))
	}
	for i, w := range fleet {
		want := ws[i]
		want.Running = nil
		if !reflect.DeepEqual(w, want) {
			t.Errorf("Fleet()[%d] = %+v, want ListWorkers' without Running: %+v", i, w, want)
		}
	}
}

func testHeartbeat(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	u := drover.WorkerUsage{CPUPercent: 37.5, MemoryUsedMB: 1234, MemoryTotalMB: 8192, Load1: 1.25}
	now := at(10*time.Second + 3)
	got, revived, err := f.s.Heartbeat(f.ctx, w.ID, now, u)
	if err != nil || revived {
		t.Fatalf("Heartbeat of a READY worker: revived %v, %v", revived, err)
	}
	for _, gw := range []*drover.Worker{got, f.worker(w.ID)} {
		if gw.Usage != u || !gw.LastHeartbeatAt.Equal(now) || gw.State != drover.WorkerReady {
			t.Errorf("after heartbeat: usage %+v at %s %s, want %+v at %s READY", gw.Usage, gw.LastHeartbeatAt, gw.State, u, now)
		}
	}

	// DOWN comes back READY; DRAINING stays DRAINING.
	if _, _, err := f.s.MarkWorkerDown(f.ctx, w.ID, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, revived, err = f.s.Heartbeat(f.ctx, w.ID, at(2*time.Minute), u); err != nil || got.State != drover.WorkerReady || !revived {
		t.Errorf("heartbeat of a DOWN worker = %v, revived %v, %v; want READY, revived", got, revived, err)
	}
	if _, err := f.s.SetWorkerState(f.ctx, w.ID, drover.WorkerDraining); err != nil {
		t.Fatal(err)
	}
	if got, revived, err = f.s.Heartbeat(f.ctx, w.ID, at(3*time.Minute), u); err != nil || got.State != drover.WorkerDraining || revived {
		t.Errorf("heartbeat of a DRAINING worker = %v, revived %v, %v; want DRAINING, not revived", got, revived, err)
	}

	_, _, err = f.s.Heartbeat(f.ctx, "wrk_doesnotexist", now, u)
	wantCode(t, "Heartbeat of an unknown worker", err, drover.ENOTFOUND)
}

func testSetWorkerState(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	for _, st := range []drover.WorkerState{drover.WorkerDraining, drover.WorkerReady} {
		got, err := f.s.SetWorkerState(f.ctx, w.ID, st)
		if err != nil || got.State != st {
			t.Errorf("SetWorkerState(%s) = %v, %v", st, got, err)
		}
		if gw := f.worker(w.ID); gw.State != st {
			t.Errorf("after SetWorkerState(%s): %s", st, gw.State)
		}
	}
	if _, err := f.s.SetWorkerState(f.ctx, w.ID, drover.WorkerDown); err == nil {
		t.Errorf("SetWorkerState(DOWN) succeeded; DOWN is MarkWorkerDown's")
	}
	// A DOWN worker keeps its state: only a heartbeat brings it back.
	down := f.createWorker("down")
	if _, marked, err := f.s.MarkWorkerDown(f.ctx, down.ID, at(time.Hour)); err != nil || !marked {
		t.Fatalf("MarkWorkerDown: %v, %v", marked, err)
	}
	for _, st := range []drover.WorkerState{drover.WorkerDraining, drover.WorkerReady} {
		_, err := f.s.SetWorkerState(f.ctx, down.ID, st)
		wantCode(t, "SetWorkerState("+string(st)+") of a DOWN worker", err, drover.ECONFLICT)
	}
	if got := f.worker(down.ID); got.State != drover.WorkerDown {
		t.Errorf("DOWN worker after refused SetWorkerState: %s", got.State)
	}
	_, err := f.s.SetWorkerState(f.ctx, "wrk_doesnotexist", drover.WorkerDraining)
	wantCode(t, "SetWorkerState of an unknown worker", err, drover.ENOTFOUND)
}

func testDeleteWorker(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	_, a := f.running(w.ID)
	err := f.s.DeleteWorker(f.ctx, w.ID)
	wantCode(t, "DeleteWorker with an active attempt", err, drover.ECONFLICT)
	if _, err := f.s.GetWorker(f.ctx, w.ID); err != nil {
		t.Errorf("a refused DeleteWorker removed the worker: %v", err)
	}

	f.end(a.ID, store.AttemptEnd{At: at(time.Minute), State: drover.AttemptCompleted, ExitCode: intp(0)},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)})
	if err := f.s.DeleteWorker(f.ctx, w.ID); err != nil {
		t.Fatalf("DeleteWorker of an idle worker: %v", err)
	}
	_, err = f.s.GetWorker(f.ctx, w.ID)
	wantCode(t, "GetWorker after delete", err, drover.ENOTFOUND)
	err = f.s.DeleteWorker(f.ctx, w.ID)
	wantCode(t, "DeleteWorker again", err, drover.ENOTFOUND)
	if got := f.attempt(a.ID); got.WorkerID != w.ID || got.WorkerName != "w" {
		t.Errorf("finished attempt of a deleted worker: on %q (%q), want %q (\"w\")", got.WorkerID, got.WorkerName, w.ID)
	}
	if ws, err := f.s.ListWorkers(f.ctx); err != nil || len(ws) != 0 {
		t.Errorf("ListWorkers after delete = %d workers, %v", len(ws), err)
	}
}

func testStaleWorkers(f *fixture) {
	t := f.t
	hb := func(d time.Duration) func(*drover.Worker) {
		return func(w *drover.Worker) { w.LastHeartbeatAt = at(d) }
	}
	old := f.createWorker("old", hb(0))
	drain := f.createWorker("drain", hb(time.Second))
	if _, err := f.s.SetWorkerState(f.ctx, drain.ID, drover.WorkerDraining); err != nil {
		t.Fatal(err)
	}
	down := f.createWorker("down", hb(0))
	if _, _, err := f.s.MarkWorkerDown(f.ctx, down.ID, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	f.createWorker("edge", hb(30*time.Second)) // not strictly before
	f.createWorker("fresh", hb(time.Minute))
	// DOWN with an attempt still active: its ending was interrupted.
	downBusy := f.createWorker("down-busy", hb(0))
	f.running(downBusy.ID)
	if _, _, err := f.s.MarkWorkerDown(f.ctx, downBusy.ID, at(time.Second)); err != nil {
		t.Fatal(err)
	}

	ids, err := f.s.StaleWorkers(f.ctx, at(30*time.Second))
	if err != nil {
		t.Fatalf("StaleWorkers: %v", err)
	}
	if got, want := sorted(ids...), sorted(old.ID, drain.ID, downBusy.ID); !slices.Equal(got, want) {
		t.Errorf("StaleWorkers = %v, want %v (READY or DRAINING, heartbeat strictly before; DOWN with active attempts)", got, want)
	}
}

func testMarkWorkerDown(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	_, a1 := f.running(w.ID)
	j2 := f.createJob(base)
	a2 := f.assign(at(3*time.Second), j2.ID, w.ID)
	_, done := f.running(w.ID)
	f.end(done.ID, store.AttemptEnd{At: at(4 * time.Second), State: drover.AttemptCompleted, ExitCode: intp(0)},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)})
	if _, _, err := f.s.Heartbeat(f.ctx, w.ID, at(10*time.Second), drover.WorkerUsage{}); err != nil {
		t.Fatal(err)
	}

	// It heartbeated at 10s: a reaper that decided with an older view loses.
	_, _, err := f.s.MarkWorkerDown(f.ctx, w.ID, at(10*time.Second))
	wantCode(t, "MarkWorkerDown with a heartbeat at the cut-off", err, drover.ECONFLICT)
	_, _, err = f.s.MarkWorkerDown(f.ctx, w.ID, at(5*time.Second))
	wantCode(t, "MarkWorkerDown with a heartbeat after the cut-off", err, drover.ECONFLICT)
	if got := f.worker(w.ID); got.State != drover.WorkerReady {
		t.Errorf("a refused MarkWorkerDown left the worker %s", got.State)
	}

	as, marked, err := f.s.MarkWorkerDown(f.ctx, w.ID, at(40*time.Second))
	if err != nil || !marked {
		t.Fatalf("MarkWorkerDown = marked %v, %v; want it marked", marked, err)
	}
	if got, want := attemptIDs(as), sorted(a1.ID, a2.ID); !slices.Equal(got, want) {
		t.Errorf("MarkWorkerDown returned %v, want the active attempts %v", got, want)
	}
	for _, a := range as {
		if a.State.Final() || a.WorkerID != w.ID || a.JobID == "" {
			t.Errorf("MarkWorkerDown attempt = %+v", a)
		}
	}
	if got := f.worker(w.ID); got.State != drover.WorkerDown {
		t.Errorf("worker = %s, want DOWN", got.State)
	}
	// Again, as after a round that was interrupted. The same attempts come
	// back, and the worker is not marked a second time.
	again, marked, err := f.s.MarkWorkerDown(f.ctx, w.ID, at(50*time.Second))
	if err != nil || marked || !slices.Equal(attemptIDs(again), attemptIDs(as)) {
		t.Errorf("second MarkWorkerDown = %v marked %v, %v; want the same attempts, not marked", attemptIDs(again), marked, err)
	}
	_, _, err = f.s.MarkWorkerDown(f.ctx, "wrk_doesnotexist", at(time.Hour))
	wantCode(t, "MarkWorkerDown of an unknown worker", err, drover.ENOTFOUND)
}

// ForgetWorker removes a worker only while it is DOWN, silent since before
// the given time, and without an active attempt.
func testForgetWorker(f *fixture) {
	t := f.t
	forget := func(id string, before time.Time) bool {
		t.Helper()
		gone, err := f.s.ForgetWorker(f.ctx, id, before)
		if err != nil {
			t.Fatalf("ForgetWorker: %v", err)
		}
		return gone
	}
	ready := f.createWorker("ready") // last heartbeat at base
	if forget(ready.ID, at(time.Hour)) {
		t.Error("a READY worker was forgotten")
	}
	down := f.createWorker("down")
	_, a := f.running(down.ID)
	if _, _, err := f.s.MarkWorkerDown(f.ctx, down.ID, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if forget(down.ID, at(time.Hour)) {
		t.Error("a DOWN worker with an active attempt was forgotten")
	}
	f.end(a.ID, store.AttemptEnd{At: at(2 * time.Minute), State: drover.AttemptFailed, Reason: drover.ReasonWorkerLost},
		store.JobOutcome{State: drover.JobFailed, Reason: drover.ReasonWorkerLost})
	if forget(down.ID, base) {
		t.Error("a DOWN worker silent since base was forgotten with silentBefore = base")
	}
	if !forget(down.ID, at(time.Hour)) {
		t.Error("a DOWN worker, silent long enough and idle, was not forgotten")
	}
	_, err := f.s.GetWorker(f.ctx, down.ID)
	wantCode(t, "GetWorker after ForgetWorker", err, drover.ENOTFOUND)
	if forget(down.ID, at(time.Hour)) {
		t.Error("ForgetWorker of a worker already gone says it removed it")
	}
}
