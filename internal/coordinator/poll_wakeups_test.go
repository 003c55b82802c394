package coordinator

import (
	"testing"
	"time"
)

// received reports whether c delivers within d.
func received(c <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return true
	case <-t.C:
		return false
	}
}

// pending reports whether c has a wake-up ready now.
func pending(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestPollWakeupsNotifyBeforeWaitIsKept(t *testing.T) {
	s := newPollWakeups()
	s.notify("w1") // the worker is between its store read and its wait
	if !received(s.get("w1"), 5*time.Second) {
		t.Fatal("a notify made before the wait was lost")
	}
	if pending(s.get("w1")) {
		t.Error("one notify woke the waiter twice")
	}
}

func TestPollWakeupsCoalesce(t *testing.T) {
	s := newPollWakeups()
	c := s.get("w1")
	for range 5 {
		s.notify("w1")
	}
	if !pending(c) {
		t.Fatal("no wake-up after five notifies")
	}
	if pending(c) {
		t.Error("five notifies made more than one wake-up")
	}
}

func TestPollWakeupsKeysAreIndependent(t *testing.T) {
	s := newPollWakeups()
	a, b := s.get("a"), s.get("b")
	if a == b {
		t.Fatal("two keys share a channel")
	}
	if s.get("a") != a {
		t.Fatal("get handed out a second channel for the same key")
	}
	s.notify("a")
	if pending(b) {
		t.Error("notify(a) woke b")
	}
	if !pending(a) {
		t.Error("notify(a) did not wake a")
	}
}

func TestPollWakeupsWakeBlockedWaiter(t *testing.T) {
	s := newPollWakeups()
	c := s.get("w1")
	woke := make(chan struct{})
	go func() {
		<-c
		close(woke)
	}()
	s.notify("w1")
	if !received(woke, 5*time.Second) {
		t.Fatal("a blocked waiter was not woken")
	}
}

func TestPollWakeupsForget(t *testing.T) {
	s := newPollWakeups()
	s.notify("w1")
	s.notify("w2")
	s.forget("w1")
	s.forget("w2")
	s.forget("never-seen")
	if n := len(s.ch); n != 0 {
		t.Fatalf("%d channels left after forget", n)
	}
	// A wake-up for a forgotten key went with it.
	if pending(s.get("w1")) {
		t.Error("a forgotten key kept its wake-up")
	}
}
