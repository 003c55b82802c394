package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"

	"github.com/drover-dev/drover/internal/executor"
)

// The uids a root worker gives its process jobs by default, one per running
// job. Distributions hand out ids below 65536, and systemd keeps
// 524288-1879048191 for the user namespaces of containers; this block
// begins just above that.
const (
	DefaultFirstUID uint32 = 0x70000000
	DefaultLastUID  uint32 = DefaultFirstUID + 65535
)

// JobUserName is what USER and LOGNAME say in a job that runs under an id
// of a range, which has no passwd entry.
const JobUserName = "drover-job"

// RunAs says who the process executor's jobs run as. The zero value is the
// default. A root worker then gives each running job a uid and a gid of
// its own from DefaultFirstUID-DefaultLastUID. A worker that is not root
// runs them as its own user.
//
// Distinct ids are what keep a root worker's jobs apart. A job cannot read
// another's files or /proc/PID/environ, nor signal or trace it. Jobs that
// share one User can.
type RunAs struct {
	// User, when not nil, is the one user every job runs as. A job gets
	// its uid and gid and no supplementary groups. Needs a root worker.
	User *executor.User
	// First and Last bound the range of ids handed out, one per running
	// job. Both are zero for the default range. The range must hold at
	// least as many ids as the worker has slots. It must hold no user or
	// group of this machine, because at start the worker kills what runs
	// under these ids. Needs a root worker.
	First, Last uint32
}

// Check reports what is wrong with r for a worker of slots slots, in words
// that do not name a field (the caller says where r came from).
func (r RunAs) Check(slots int) error {
	explicit := r.User != nil || r.First != 0 || r.Last != 0
	if os.Geteuid() != 0 {
		if explicit {
			return fmt.Errorf("switching users needs root, and this worker runs as uid %d: leave it at auto (jobs then run as the worker's user), or start the worker as root", os.Geteuid())
		}
		return nil
	}
	if r.User != nil {
		if r.First != 0 || r.Last != 0 {
			return errors.New("a user and a range at once: give one")
		}
		return checkMapped(r.User.UID, r.User.UID, r.User.GID, r.User.GID)
	}
	first, last := r.bounds()
	switch {
	case first == 0:
		return errors.New("the range includes uid 0 (root)")
	case first > last:
		return fmt.Errorf("the range %d-%d is empty: give FIRST-LAST with FIRST <= LAST", first, last)
	case uint64(last-first)+1 < uint64(slots):
		return fmt.Errorf("the range %d-%d holds %d ids and the worker runs up to %d jobs at once: it must hold at least as many ids as --max-parallel", first, last, uint64(last-first)+1, slots)
	}
	if err := checkMapped(first, last, first, last); err != nil {
		return err
	}
	return checkUnused(first, last)
}

// bounds is the range of ids to hand out.
func (r RunAs) bounds() (first, last uint32) {
	if r.First == 0 && r.Last == 0 {
		return DefaultFirstUID, DefaultLastUID
	}
	return r.First, r.Last
}

// uidPool hands out the ids of a range, one per running job.
//
// It goes round the range rather than taking the lowest free id. An id
// then comes back only once every other has been used. What a job leaves
// behind under its id meets a later job as rarely as the range allows. A
// file in /tmp or a daemon are such leftovers.
//
// A process left behind keeps its id from being handed out again. The ids
// held by live processes are read from /proc at start and each time the
// pool wraps around, never per job.
type uidPool struct {
	first, last uint32
	// scan returns the ids of the range that live processes hold.
	scan func() (map[uint32]bool, error)
	lock *os.File // the range's lock on this machine (lockRange)

	mu   sync.Mutex
	next uint64          // the next id to try; past last means wrap first
	live map[uint32]bool // given to a job that has not released it
	held map[uint32]bool // held by a process at the last scan
}

func newUIDPool(first, last uint32, scan func() (map[uint32]bool, error)) (*uidPool, error) {
	p := &uidPool{first: first, last: last, scan: scan, next: uint64(first), live: map[uint32]bool{}}
	held, err := scan()
	if err != nil {
		return nil, fmt.Errorf("read the ids processes hold: %w", err)
	}
	p.held = held
	return p, nil
}

// acquire returns an id no running job and no process seen at the last
// scan holds, and marks it live until release.
func (p *uidPool) acquire() (uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	scanned := false
	for {
		if p.next > uint64(p.last) {
			if scanned {
				return 0, fmt.Errorf("no uid of %d-%d is free: running jobs or processes left behind hold them all", p.first, p.last)
			}
			held, err := p.scan()
			if err != nil {
				return 0, fmt.Errorf("read the ids processes hold: %w", err)
			}
			p.held, p.next, scanned = held, uint64(p.first), true
		}
		id := uint32(p.next)
		p.next++
		if !p.live[id] && !p.held[id] {
			p.live[id] = true
			return id, nil
		}
	}
}

// release gives id back once its job is over and its workspace reclaimed.
func (p *uidPool) release(id uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.live, id)
}

// pools holds this process's pool of each range. Workers of one process
// share a range's pool, as drover bench's do. They then never give one id
// to two jobs. lockRange keeps other processes of the machine from taking
// the range meanwhile.
var pools struct {
	sync.Mutex
	m map[[2]uint32]*uidPool
}

// poolFor returns this process's pool for first-last, and makes it on
// first use. Making it locks the range on this machine and kills what
// runs under its ids. An earlier life of the worker left those. It then
// reads what still holds an id. killed counts the processes killed. The
// pool and its lock last as long as the process.
func poolFor(first, last uint32) (p *uidPool, killed int, err error) {
	pools.Lock()
	defer pools.Unlock()
	key := [2]uint32{first, last}
	if p, ok := pools.m[key]; ok {
		return p, 0, nil
	}
	lock, err := lockRange(first, last)
	if err != nil {
		return nil, 0, err
	}
	if killed, err = killRange(first, last); err != nil {
		lock.Close()
		return nil, 0, fmt.Errorf("kill the processes left under uids %d-%d: %w", first, last, err)
	}
	if p, err = newUIDPool(first, last, func() (map[uint32]bool, error) { return heldIDs(first, last) }); err != nil {
		lock.Close()
		return nil, 0, err
	}
	p.lock = lock
	if pools.m == nil {
		pools.m = map[[2]uint32]*uidPool{}
	}
	pools.m[key] = p
	return p, killed, nil
}

// jobUsers hands out the users process jobs run as.
type jobUsers struct {
	fixed *executor.User // every job's, when set
	pool  *uidPool       // else an id of its own per job
}

// newJobUsers resolves r for a worker whose work dir is dir. It returns nil
// when jobs run as the worker's own user (it is not root). A worker whose
// jobs run as other users needs a work dir they can reach. A range is taken
// for this process on first use (poolFor).
func newJobUsers(r RunAs, dir string, log *slog.Logger) (*jobUsers, error) {
	if os.Geteuid() != 0 || runtime.GOOS != "linux" {
		log.Warn("process jobs run as this worker's user, which is not root: they can read and do everything the worker can, its join token and secret included; " +
			"to keep jobs apart from the worker and from each other, start the worker as root (each job then runs under a uid of its own) or use the docker executor")
		return nil, nil
	}
	u := &jobUsers{fixed: r.User}
	first, last := r.bounds()
	if err := executor.Reachable(dir, u.probe(first)); err != nil {
		return nil, fmt.Errorf("work dir %s: process jobs run as other users, who could not reach their workspaces in it: %v; let others search every folder above it (chmod o+x), or choose another --work-dir", dir, err)
	}
	if u.fixed != nil {
		log.Info("process jobs run as one user", "uid", u.fixed.UID, "gid", u.fixed.GID, "user", u.fixed.Name)
		return u, nil
	}
	pool, killed, err := poolFor(first, last)
	if err != nil {
		return nil, err
	}
	if killed > 0 {
		log.Info("killed processes left under the uids of process jobs by an earlier life of this worker", "count", killed, "uids", fmt.Sprintf("%d-%d", first, last))
	}
	log.Info("process jobs run under uids of their own", "uids", fmt.Sprintf("%d-%d", first, last))
	u.pool = pool
	return u, nil
}

// probe is a user like those jobs run as, to check what they can reach.
// It is the fixed user, or else the first id of the range.
func (u *jobUsers) probe(first uint32) *executor.User {
	if u.fixed != nil {
		return u.fixed
	}
	return &executor.User{UID: first, GID: first, Name: JobUserName}
}

// get returns the user a job runs as, and the release to call once the
// job is over and its workspace taken back or removed.
func (u *jobUsers) get() (*executor.User, func(), error) {
	if u.fixed != nil {
		return u.fixed, func() {}, nil
	}
	id, err := u.pool.acquire()
	if err != nil {
		return nil, nil, err
	}
	return &executor.User{UID: id, GID: id, Name: JobUserName, Exclusive: true}, func() { u.pool.release(id) }, nil
}
