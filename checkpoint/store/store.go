package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/internal/durable"
)

// Options configures a Store. The zero value of each field means its
// default.
type Options struct {
	// RetainEntries is how many of the latest entries are kept for
	// catch-up and watches (default 100000), RetainBytes how many bytes
	// of them at most (default 64 MiB): the older are dropped.
	RetainEntries int
	RetainBytes   int64
	// SegmentSize is the size of a log segment (default 64 MiB). A batch
	// larger than a segment gets a segment of its own, as large as it.
	SegmentSize int64
	Logger      logrus.FieldLogger

	// noApply keeps everything in the log (tests of recovery); policy
	// replaces defaultPolicy (benchmarks).
	noApply bool
	policy  *applyPolicy
}

// Defaults.
const (
	DefaultRetainEntries = 100000
	DefaultRetainBytes   = 64 << 20
	DefaultSegmentSize   = 64 << 20
)

func (o *Options) defaults() {
	if o.RetainEntries <= 0 {
		o.RetainEntries = DefaultRetainEntries
	}
	if o.RetainBytes <= 0 {
		o.RetainBytes = DefaultRetainBytes
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	// A segment holds at least one small record after rounding.
	o.SegmentSize = max(o.SegmentSize&^(recAlign-1), 4096)
	if o.Logger == nil {
		o.Logger = logrus.StandardLogger()
	}
}

// Files in the store's directory.
const (
	lockName    = "LOCK"
	dbName      = "state.db"
	walDirName  = "wal"
	restoreName = "restore.db.tmp"
	// keepFree is how many used segments are kept for recycling; the
	// others are deleted.
	keepFree = 2
)

// ErrLocked is returned by Open when another process (or another Store
// of this one) has the directory open.
var ErrLocked = errors.New("the store's directory is in use")

// Store is one node's durable storage: a log of batches in front of a
// bbolt database (see doc.go). Reads are safe concurrently with each other
// and with the writer; Append, SetEpoch and Restore are serialized.
type Store struct {
	dir    string
	walDir string
	opt    Options
	log    logrus.FieldLogger
	lock   *os.File

	// wmu serializes the writers (Append, SetEpoch, Restore); what it
	// guards is the log's write side.
	wmu     sync.Mutex
	gen     uint64 // the history the log belongs to (see segStart)
	activeF *os.File
	off     int64  // where the next record goes in the active segment
	size    int64  // the active segment's size
	prevSeq uint64 // the segment before the active one, and where it ended:
	prevEnd int64  // what the active one's first record says
	recIdx  uint64
	failed  error // an I/O error after which nothing is appended
	buf     []byte
	rec     []byte

	// mu guards what readers see.
	mu          sync.RWMutex
	db          *bolt.DB
	closed      bool
	pos         checkpoint.Position
	epoch       uint64
	dbRev       uint64 // bbolt holds the revisions up to here
	dbOldest    uint64 // the oldest entry bbolt retains (0: none)
	ovEntries   []checkpoint.Entry
	ovItems     map[string]ovItem
	epochStarts map[uint64]uint64
	pend        []pendRec
	changed     chan struct{}
	problems    map[string]string

	// segMu guards the segment lists, shared by the writer, the applier
	// (which frees segments) and the preparer.
	segMu      sync.Mutex
	segs       []*segment // used segments, oldest first; the active one last
	active     *segment
	free       []string
	ready      *segment // prepared, for the next switch
	maxSeq     uint64
	appliedRec uint64
	prepMu     sync.Mutex // one preparation at a time

	// applyMu is held while the applier writes to bbolt; Restore takes it
	// to swap the database.
	applyMu sync.Mutex
	dbst    dbState // the database's state, as the applier knows it

	applyWake chan struct{}
	prepWake  chan struct{}
	quit      chan struct{}
	wg        sync.WaitGroup

	policy     applyPolicy
	pendBytes  int64     // bytes of the records pending (mu)
	pendSince  time.Time // when the oldest pending record was written (mu)
	lastAppend time.Time // (mu)
}

// applyPolicy says when the applier commits to bbolt. Each commit costs
// two fdatasyncs of bbolt's file on the disk the log's fdatasync waits
// on: committing after every append makes the appends slower (see
// BenchmarkAppend1KiB), so the applier waits for a pause in the appends,
// and commits without one only once enough is pending.
type applyPolicy struct {
	idle     time.Duration // commit once no append came for this long (0: at once)
	maxBytes int64         // or once this many bytes are pending
	maxAge   time.Duration // or once the oldest pending record is this old
}

var defaultPolicy = applyPolicy{idle: 2 * time.Millisecond, maxBytes: 32 << 20, maxAge: 5 * time.Second}

type segment struct {
	seq     uint64
	path    string
	f       *os.File // the prepared one's, until it becomes active
	size    int64
	lastRec uint64 // the last record written to it that is not yet in bbolt
}

type pendRec struct {
	idx     uint64
	entries []checkpoint.Entry
	epoch   uint64
}

// ovItem is a key's state written to the log but not yet to bbolt.
type ovItem struct {
	item    checkpoint.Item
	deleted bool
}

// Open opens (or creates) the store in dir: it takes an exclusive lock on
// the directory, opens the database, and replays the log written since
// the last apply. A log damaged other than at its tail (a torn last
// write) is an error (*CorruptError), never skipped.
func Open(dir string, o Options) (*Store, error) {
	o.defaults()
	s := &Store{
		dir: dir, walDir: filepath.Join(dir, walDirName), opt: o, log: o.Logger,
		ovItems: map[string]ovItem{}, changed: make(chan struct{}), problems: map[string]string{},
		policy:    defaultPolicy,
		applyWake: make(chan struct{}, 1), prepWake: make(chan struct{}, 1), quit: make(chan struct{}),
	}
	if o.policy != nil {
		s.policy = *o.policy
	}
	if err := os.MkdirAll(s.walDir, 0o700); err != nil {
		return nil, fmt.Errorf("open checkpoint store: %w", err)
	}
	if err := s.takeLock(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.closeFiles()
		}
	}()
	// A Restore that a crash interrupted before its rename left this:
	// the store's state is the old one.
	if err := os.Remove(filepath.Join(dir, restoreName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open checkpoint store: remove unfinished restore: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, dbName), 0o600, boltOptions())
	if err != nil {
		return nil, fmt.Errorf("open checkpoint store %s: %w", dir, err)
	}
	s.db = db
	st, err := initDB(db)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint store %s: %w", dir, err)
	}
	// The directories and the database file were perhaps just created:
	// their entries must be durable before anything written into them
	// is said to be.
	for _, d := range []string{s.walDir, dir, filepath.Dir(filepath.Clean(dir))} {
		if err := durable.SyncDir(d); err != nil {
			return nil, fmt.Errorf("open checkpoint store: fsync %s: %w", d, err)
		}
	}
	if err := s.recover(st); err != nil {
		return nil, fmt.Errorf("open checkpoint store %s: %w", dir, err)
	}
	if err := s.prepare(); err != nil {
		s.log.WithError(err).Warn("checkpoint store: cannot prepare the next log segment yet")
	}
	s.wg.Add(2)
	go s.applier()
	go s.preparer()
	s.wakeApplier()
	ok = true
	return s, nil
}

func (s *Store) takeLock() error {
	path := filepath.Join(s.dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open checkpoint store: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		var b [24]byte // a pid, not whatever else the file may hold
		n, _ := f.ReadAt(b[:], 0)
		holder := strings.TrimSpace(strings.ToValidUTF8(string(b[:n]), "?"))
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("open checkpoint store %s: %w (held by pid %q)", s.dir, ErrLocked, holder)
		}
		return fmt.Errorf("open checkpoint store %s: lock: %w", s.dir, err)
	}
	// The pid is only for the message above: the lock is the flock.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	s.lock = f
	return nil
}

// recover replays the log: every record of the database's generation
// that bbolt does not hold yet goes to the overlay and the applier's
// queue.
func (s *Store) recover(st dbState) error {
	s.dbst = st
	s.gen = st.gen
	s.pos, s.epoch = st.applied, st.epoch
	s.dbRev, s.dbOldest = st.applied.Rev, st.oldest
	s.epochStarts = map[uint64]uint64{}
	for e, r := range st.epochs {
		s.epochStarts[e] = r
	}
	seqs, err := listSegments(s.walDir)
	if err != nil {
		return err
	}
	if len(seqs) > 0 {
		s.maxSeq = seqs[len(seqs)-1]
	}
	type chained struct {
		seg  *segment
		recs []segRecord
		end  int64
	}
	var chain []chained
	var empty []uint64 // segments without a valid first record
	for _, seq := range seqs {
		path := filepath.Join(s.walDir, segName(seq))
		data, err := readFile(path)
		if err != nil {
			return fmt.Errorf("read log segment: %w", err)
		}
		recs, end, err := scanSegment(path, data, seq, false)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			empty = append(empty, seq)
		}
		if len(recs) == 0 || recs[0].p.start == nil || recs[0].p.start.gen != st.gen {
			if len(recs) > 0 && recs[0].p.start == nil {
				return fmt.Errorf("checkpoint log %s: the first record does not say which history it belongs to", path)
			}
			// Empty (prepared, never used) or of a history a Restore
			// replaced: recycled.
			s.free = append(s.free, path)
			continue
		}
		seg := &segment{seq: seq, path: path, size: int64(len(data))}
		if n := len(chain); n > 0 {
			prev, start := chain[n-1], recs[0].p.start
			switch {
			case start.prevSeq == prev.seg.seq && start.prevEnd != prev.end:
				return &CorruptError{Path: prev.seg.path, Offset: prev.end,
					NextValid: fmt.Sprintf("%s says it ended at offset %d", segName(seq), start.prevEnd)}
			case start.prevSeq < prev.seg.seq:
				return fmt.Errorf("checkpoint log %s follows segment %d, but %s is after it", path, start.prevSeq, prev.seg.path)
			}
			// start.prevSeq > prev.seg.seq: the segments between were
			// recycled, so bbolt held all they had; the revisions'
			// continuity below checks that.
		}
		chain = append(chain, chained{seg, recs, end})
	}
	// Where the log ends: nothing valid may follow the last record of the
	// last segment, nor stand in a later segment without a valid first
	// record (a damaged first record, not a torn one). Earlier segments
	// need no such scan: their successor says where they ended.
	var lastSeq uint64
	if n := len(chain); n > 0 {
		last := chain[n-1]
		lastSeq = last.seg.seq
		data, err := readFile(last.seg.path)
		if err != nil {
			return fmt.Errorf("read log segment: %w", err)
		}
		if err := checkTail(last.seg.path, data, last.seg.seq, last.end); err != nil {
			return err
		}
	}
	for _, seq := range empty {
		if seq < lastSeq {
			continue
		}
		path := filepath.Join(s.walDir, segName(seq))
		data, err := readFile(path)
		if err != nil {
			return fmt.Errorf("read log segment: %w", err)
		}
		if err := checkTail(path, data, seq, 0); err != nil {
			return err
		}
	}
	// Replay.
	for _, c := range chain {
		for _, r := range c.recs {
			if r.p.kind == kindEpoch {
				if r.p.epoch > s.epoch {
					s.epoch = r.p.epoch
					s.recIdx++
					s.pend = append(s.pend, pendRec{idx: s.recIdx, epoch: r.p.epoch})
					c.seg.lastRec = s.recIdx
				}
				continue
			}
			ents := r.p.entries
			for len(ents) > 0 && ents[0].Rev <= s.pos.Rev {
				ents = ents[1:]
			}
			if len(ents) == 0 {
				continue
			}
			if ents[0].Rev != s.pos.Rev+1 || ents[0].Epoch < s.pos.Epoch {
				return fmt.Errorf("checkpoint log %s, offset %d: entry %s follows %s: entries are missing", c.seg.path, r.off, ents[0].Position(), s.pos)
			}
			// Values alias the segment's data, read for this replay only.
			for i := range ents {
				if ents[i].Value != nil {
					ents[i].Value = append([]byte(nil), ents[i].Value...)
				}
			}
			items, err := s.resolve(ents)
			if err != nil {
				return err
			}
			s.recIdx++
			s.publish(ents, items)
			c.seg.lastRec = s.recIdx
		}
	}
	for i, c := range chain {
		if c.seg.lastRec == 0 && i < len(chain)-1 {
			s.free = append(s.free, c.seg.path)
			continue
		}
		s.segs = append(s.segs, c.seg)
	}
	if n := len(chain); n > 0 {
		last := chain[n-1]
		f, err := os.OpenFile(last.seg.path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open log segment: %w", err)
		}
		s.active, s.activeF, s.off, s.size = last.seg, f, last.end, last.seg.size
		if last.end < last.seg.size {
			s.log.WithFields(logrus.Fields{"segment": last.seg.path, "offset": last.end}).Debug("checkpoint log: appending after the last valid record")
		}
	}
	// Keep a few free segments for recycling, delete the others.
	sort.Strings(s.free)
	for len(s.free) > keepFree {
		if err := os.Remove(s.free[0]); err != nil {
			return fmt.Errorf("remove old log segment: %w", err)
		}
		s.free = s.free[1:]
	}
	if len(s.pend) > 0 {
		s.log.WithFields(logrus.Fields{"records": len(s.pend), "position": s.pos.String()}).Info("checkpoint store: replayed the log")
	}
	return nil
}

// Close stops the store: the log is applied to bbolt if it can be (what
// is not stays in the log), files are closed and the lock released.
// Methods called afterwards return checkpoint.ErrClosed.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.changed)
	s.mu.Unlock()
	close(s.quit)
	s.wg.Wait()
	return s.closeFiles()
}

func (s *Store) closeFiles() error {
	var errs []error
	if s.activeF != nil {
		errs = append(errs, s.activeF.Close())
		s.activeF = nil
	}
	if s.ready != nil {
		errs = append(errs, s.ready.f.Close())
		s.ready = nil
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close()) // releases the flock
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close checkpoint store: %w", err)
	}
	return nil
}

// Position returns where the durable history ends.
func (s *Store) Position() checkpoint.Position {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pos
}

// Epoch returns the persisted current epoch (≥ Position().Epoch).
func (s *Store) Epoch() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.epoch
}

// EpochStart returns the revision of epoch e's first entry in this
// history (false: the history has no entry of epoch e).
func (s *Store) EpochStart(e uint64) (uint64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.epochStarts[e]
	return r, ok
}

// Epochs returns, oldest first, the position of each epoch's first entry
// in this history: the history's last revision of an epoch is the next
// one's first revision minus one (or Position().Rev for the last).
func (s *Store) Epochs() []checkpoint.Position {
	s.mu.RLock()
	out := make([]checkpoint.Position, 0, len(s.epochStarts))
	for e, r := range s.epochStarts {
		out = append(out, checkpoint.Position{Epoch: e, Rev: r})
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// Oldest returns the oldest retained revision (Position().Rev+1 when none
// is).
func (s *Store) Oldest() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.oldestLocked()
}

func (s *Store) oldestLocked() uint64 {
	switch {
	case s.dbOldest != 0:
		return s.dbOldest
	case len(s.ovEntries) > 0:
		return s.ovEntries[0].Rev
	}
	return s.pos.Rev + 1
}

// Changed returns a channel closed at the next Append, SetEpoch or
// Restore (or Close): a watcher asks again after it fires.
func (s *Store) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// Problems says why the store is unhealthy (a full disk, an I/O error),
// or nil.
func (s *Store) Problems() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.problems) == 0 {
		return nil
	}
	out := make([]string, 0, len(s.problems))
	for _, p := range s.problems {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (s *Store) setProblem(what string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.problems, what)
		return
	}
	msg := what + ": " + err.Error()
	if isNoSpace(err) {
		msg = what + ": disk full: " + err.Error()
	}
	if s.problems[what] != msg {
		s.log.WithError(err).Warnf("checkpoint store: %s", what)
	}
	s.problems[what] = msg
}

// SetEpoch persists e as the current epoch (durable on return). An epoch
// lower than the current one is refused; the same one is a no-op.
func (s *Store) SetEpoch(e uint64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	cur := s.Epoch()
	switch {
	case e < cur:
		return fmt.Errorf("set epoch %d: the store's epoch is already %d", e, cur)
	case e == cur:
		return nil
	}
	s.buf = encodePayload(s.buf[:0], nil, nil, e)
	if err := s.writeRecord(func(start *segStart) []byte {
		return encodePayload(s.buf[:0], start, nil, e)
	}); err != nil {
		return fmt.Errorf("set epoch %d: %w", e, err)
	}
	s.written()
	s.mu.Lock()
	s.epoch = e
	s.pend = append(s.pend, pendRec{idx: s.recIdx, epoch: e})
	s.notifyLocked()
	s.mu.Unlock()
	s.wakeApplier()
	return nil
}

// writable says why nothing can be written now, or nil.
func (s *Store) writable() error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return checkpoint.ErrClosed
	}
	if s.failed != nil {
		return fmt.Errorf("the checkpoint log had an I/O error, nothing more is written until the store is reopened: %w", s.failed)
	}
	return nil
}

// Append makes entries durable: one write and one fdatasync of the log for
// the whole batch (none for an empty one) before it returns. entries[0].Rev
// is Position().Rev+1, the revisions are contiguous, the epochs do not
// decrease, start at Position().Epoch or later and are at most Epoch().
// One writer at a time (the replica's pipeline); reads run concurrently.
// On error nothing of the batch is visible and the store is still usable:
// a full disk is an error wrapping checkpoint.ErrNoSpace, and once space
// is freed appends work again; after another I/O error the store refuses
// further appends (Problems says why) until it is reopened, since the
// kernel may have dropped the pages it failed to write.
func (s *Store) Append(entries []checkpoint.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	s.mu.RLock()
	pos, epoch := s.pos, s.epoch
	s.mu.RUnlock()
	first, last := entries[0].Rev, entries[len(entries)-1].Rev
	prev := pos
	size := 0
	for i := range entries {
		e := &entries[i]
		if err := checkEntry(e); err != nil {
			return &checkpoint.InvalidError{Reason: "append: " + err.Error()}
		}
		if e.Rev != prev.Rev+1 || e.Epoch < prev.Epoch || e.Epoch > epoch {
			return &checkpoint.InvalidError{Reason: fmt.Sprintf("append %s after %s with the store's epoch at %d: revisions must follow on, epochs must not decrease nor pass the store's", e.Position(), prev, epoch)}
		}
		prev = e.Position()
		size += len(e.Value)
	}
	// The caller may reuse its buffers: the store keeps copies.
	ents := make([]checkpoint.Entry, len(entries))
	arena := make([]byte, 0, size)
	for i, e := range entries {
		if e.Value != nil {
			arena = append(arena, e.Value...)
			e.Value = arena[len(arena)-len(e.Value) : len(arena) : len(arena)]
		}
		ents[i] = e
	}
	items, err := s.resolve(ents)
	if err != nil {
		return fmt.Errorf("append revisions %d-%d: %w", first, last, err)
	}
	s.buf = encodePayload(s.buf[:0], nil, ents, 0)
	if err := s.writeRecord(func(start *segStart) []byte {
		return encodePayload(s.buf[:0], start, ents, 0)
	}); err != nil {
		return fmt.Errorf("append revisions %d-%d: %w", first, last, err)
	}
	s.written()
	s.publish(ents, items)
	s.wakeApplier()
	return nil
}

// written counts a record written to the active segment.
func (s *Store) written() {
	s.recIdx++
	s.segMu.Lock()
	s.active.lastRec = s.recIdx
	s.segMu.Unlock()
}

// resolve computes the items a batch's puts make (a key keeps the
// revision that created it) and the deletes' tombstones.
func (s *Store) resolve(ents []checkpoint.Entry) (map[string]ovItem, error) {
	items := make(map[string]ovItem, len(ents))
	var need []string
	s.mu.RLock()
	for i := range ents {
		k := ents[i].Key
		if ents[i].Op == checkpoint.OpEpoch {
			continue
		}
		if _, ok := items[k]; ok {
			continue
		}
		if it, ok := s.ovItems[k]; ok {
			items[k] = it
		} else {
			items[k] = ovItem{deleted: true}
			need = append(need, k)
		}
	}
	var tx *bolt.Tx
	var err error
	if len(need) > 0 {
		tx, err = s.db.Begin(false)
	}
	s.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("read the items written: %w", err)
	}
	if tx != nil {
		defer tx.Rollback()
		for _, k := range need {
			it, ok, err := readItem(tx, k)
			if err != nil {
				return nil, err
			}
			if ok {
				items[k] = ovItem{item: it}
			}
		}
	}
	for i := range ents {
		e := &ents[i]
		switch e.Op {
		case checkpoint.OpPut:
			created := e.Rev
			if old := items[e.Key]; !old.deleted {
				created = old.item.Created
			}
			items[e.Key] = ovItem{item: checkpoint.Item{Key: e.Key, Value: e.Value, Rev: e.Rev, Created: created}}
		case checkpoint.OpDelete:
			items[e.Key] = ovItem{item: checkpoint.Item{Key: e.Key, Rev: e.Rev}, deleted: true}
		}
	}
	return items, nil
}

// publish makes a durable batch visible to readers and queues it for the
// applier.
func (s *Store) publish(ents []checkpoint.Entry, items map[string]ovItem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ovEntries = append(s.ovEntries, ents...)
	for k, it := range items {
		s.ovItems[k] = it
	}
	for i := range ents {
		if _, ok := s.epochStarts[ents[i].Epoch]; !ok {
			s.epochStarts[ents[i].Epoch] = ents[i].Rev
		}
	}
	s.pos = ents[len(ents)-1].Position()
	s.epoch = max(s.epoch, s.pos.Epoch)
	s.pend = append(s.pend, pendRec{idx: s.recIdx, entries: ents})
	s.lastAppend = time.Now()
	if s.pendSince.IsZero() {
		s.pendSince = s.lastAppend
	}
	for i := range ents {
		s.pendBytes += int64(len(ents[i].Key) + len(ents[i].Value) + 32)
	}
	s.notifyLocked()
}

func (s *Store) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// writeRecord writes one record, built by build (given the segment start
// when the record is a segment's first), and fdatasyncs it.
func (s *Store) writeRecord(build func(start *segStart) []byte) error {
	// s.buf holds the payload without a start: its size decides whether
	// the record fits the active segment.
	// The start adds at most 32 bytes. A record larger than a whole
	// segment is written at the start of one, which it extends.
	if s.activeF == nil || (s.off > 0 && s.off+recSize(len(s.buf)+32) > s.size) {
		if err := s.switchSegment(); err != nil {
			return err
		}
	}
	var p []byte
	if s.off == 0 {
		p = build(&segStart{gen: s.gen, prevSeq: s.prevSeq, prevEnd: s.prevEnd})
	} else {
		p = s.buf
	}
	if len(p) > maxRecord-recHeader {
		return &checkpoint.InvalidError{Reason: fmt.Sprintf("a batch of %d bytes: at most %d", len(p), maxRecord-recHeader)}
	}
	s.rec = appendRecord(s.rec[:0], s.active.seq, p)
	if _, err := s.activeF.WriteAt(s.rec, s.off); err != nil {
		return s.ioError("write to the log", err)
	}
	hook("append:written")
	if err := fdatasync(s.activeF); err != nil {
		return s.ioError("fdatasync the log", err)
	}
	s.off += int64(len(s.rec))
	if s.off > s.size {
		s.size = s.off // an oversized record extended the segment
	}
	if cap(s.rec) > 16<<20 {
		s.buf, s.rec = nil, nil // a huge batch's buffers are not kept
	}
	s.setProblem("log", nil)
	return nil
}

// ioError turns a log I/O error into Append's: a full disk leaves the
// store usable (the record is written again, at the same place, by the
// next append); any other error stops the writes.
func (s *Store) ioError(what string, err error) error {
	if isNoSpace(err) {
		s.setProblem("log", err)
		return fmt.Errorf("%s: %w: %w", what, checkpoint.ErrNoSpace, err)
	}
	s.failed = fmt.Errorf("%s: %w", what, err)
	s.setProblem("log", fmt.Errorf("%w; no write is accepted until the store is reopened", s.failed))
	return s.failed
}

// switchSegment makes the prepared segment the active one.
func (s *Store) switchSegment() error {
	if err := s.prepare(); err != nil {
		if isNoSpace(err) {
			return fmt.Errorf("prepare a log segment: %w: %w", checkpoint.ErrNoSpace, err)
		}
		return fmt.Errorf("prepare a log segment: %w", err)
	}
	s.segMu.Lock()
	next := s.ready
	s.ready = nil
	if s.active != nil {
		s.prevSeq, s.prevEnd = s.active.seq, s.off
	}
	s.segs = append(s.segs, next)
	s.active = next
	s.segMu.Unlock()
	if s.activeF != nil {
		s.activeF.Close()
	}
	s.activeF, s.off, s.size = next.f, 0, next.size
	next.f = nil
	s.wakePreparer()
	return nil
}

// prepare makes sure a segment is ready for the next switch: a free one
// renamed, or a new one filled with zeros.
func (s *Store) prepare() error {
	s.prepMu.Lock()
	defer s.prepMu.Unlock()
	s.segMu.Lock()
	if s.ready != nil {
		s.segMu.Unlock()
		return nil
	}
	s.maxSeq++
	seq := s.maxSeq
	var from string
	if n := len(s.free); n > 0 {
		from, s.free = s.free[n-1], s.free[:n-1]
	}
	s.segMu.Unlock()
	path := filepath.Join(s.walDir, segName(seq))
	f, size, err := s.makeSegment(from, path)
	if err != nil {
		s.setProblem("log segments", err)
		return err
	}
	s.setProblem("log segments", nil)
	s.segMu.Lock()
	s.ready = &segment{seq: seq, path: path, f: f, size: size}
	s.segMu.Unlock()
	return nil
}

func (s *Store) makeSegment(from, path string) (*os.File, int64, error) {
	if from != "" {
		fi, err := os.Stat(from)
		if err == nil && fi.Size() == s.opt.SegmentSize {
			if err := os.Rename(from, path); err != nil {
				return nil, 0, fmt.Errorf("recycle log segment: %w", err)
			}
			if err := durable.SyncDir(s.walDir); err != nil {
				return nil, 0, fmt.Errorf("recycle log segment: fsync %s: %w", s.walDir, err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				return nil, 0, fmt.Errorf("recycle log segment: %w", err)
			}
			return f, fi.Size(), nil
		}
		os.Remove(from) // oversized (or gone): a new one is made instead
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("create log segment: %w", err)
	}
	fail := func(step string, err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(tmp)
		return nil, 0, fmt.Errorf("create log segment: %s: %w", step, err)
	}
	if err := writeZeros(f, 0, s.opt.SegmentSize); err != nil {
		return fail("write zeros", err)
	}
	if err := fdatasync(f); err != nil {
		return fail("fdatasync", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail("rename", err)
	}
	if err := durable.SyncDir(s.walDir); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("create log segment: fsync %s: %w", s.walDir, err)
	}
	return f, s.opt.SegmentSize, nil
}

func (s *Store) wakeApplier() {
	select {
	case s.applyWake <- struct{}{}:
	default:
	}
}

func (s *Store) wakePreparer() {
	select {
	case s.prepWake <- struct{}{}:
	default:
	}
}

// preparer keeps the next segment ready, so that an Append that fills a
// segment does not wait for the next to be written.
func (s *Store) preparer() {
	defer s.wg.Done()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-s.prepWake:
		case <-retry.C:
		}
		if err := s.prepare(); err != nil {
			retry.Reset(time.Second)
		}
	}
}

// applier commits what the log holds to bbolt, whatever is pending at
// once, and recycles the segments bbolt then covers.
func (s *Store) applier() {
	defer s.wg.Done()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-s.quit:
			s.applyMu.Lock()
			if err := s.apply(); err != nil {
				s.log.WithError(err).Warn("checkpoint store: the log stays unapplied until the next open")
			}
			s.applyMu.Unlock()
			return
		case <-s.applyWake:
		case <-retry.C:
		}
		s.waitToApply()
		s.applyMu.Lock()
		err := s.apply()
		s.applyMu.Unlock()
		if err != nil {
			retry.Reset(backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

// waitToApply waits, after a wake-up, until the policy says to commit.
func (s *Store) waitToApply() {
	p := s.policy
	if p.idle <= 0 {
		return
	}
	// The appends do not wake the applier while it waits here (a
	// goroutine switch per append costs the appends, measured): it looks
	// at when the last one came instead.
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.quit:
			return
		}
		s.mu.RLock()
		n, since, last := s.pendBytes, s.pendSince, s.lastAppend
		s.mu.RUnlock()
		now := time.Now()
		quiet := now.Sub(last)
		if n >= p.maxBytes || !since.IsZero() && now.Sub(since) >= p.maxAge || quiet >= p.idle {
			return
		}
		t.Reset(p.idle - quiet)
	}
}

// maxCommit bounds the bytes of entries one bbolt commit applies.
const maxCommit = 8 << 20

// apply commits the pending records to bbolt (applyMu held), a commit of
// at most maxCommit bytes at a time, until none is pending, or once only
// when the store is closing (the rest stays in the log: Close does not
// wait for a large backlog).
func (s *Store) apply() error {
	if s.opt.noApply {
		return nil
	}
	for {
		s.mu.RLock()
		n := len(s.pend)
		s.mu.RUnlock()
		if n == 0 {
			return nil
		}
		if err := s.applyOnce(); err != nil {
			return err
		}
		if s.closing() {
			return nil
		}
	}
}

// applyOnce makes one commit.
func (s *Store) applyOnce() error {
	s.mu.RLock()
	recs := s.pend
	db := s.db
	s.mu.RUnlock()
	if len(recs) == 0 {
		return nil
	}
	// One commit holds at most maxCommit bytes (and at least a record):
	// a huge transaction would hold the disk, and the appends, for long.
	var ents []checkpoint.Entry
	var epoch uint64
	size := 0
	for i, r := range recs {
		if i > 0 && size >= maxCommit {
			recs = recs[:i]
			break
		}
		for j := range r.entries {
			size += len(r.entries[j].Key) + len(r.entries[j].Value) + 32
		}
		ents = append(ents, r.entries...)
		epoch = max(epoch, r.epoch)
	}
	st := s.dbst
	st.epochs = make(map[uint64]uint64, len(s.dbst.epochs))
	for e, r := range s.dbst.epochs {
		st.epochs[e] = r
	}
	err := db.Update(func(tx *bolt.Tx) error {
		hook("apply:tx")
		return applyTx(tx, &st, ents, epoch, &s.opt)
	})
	if err != nil {
		s.setProblem("apply", err)
		return fmt.Errorf("apply the log to the database: %w", err)
	}
	s.setProblem("apply", nil)
	s.dbst = st
	lastIdx := recs[len(recs)-1].idx
	s.mu.Lock()
	s.pend = s.pend[len(recs):]
	for i := range ents {
		s.pendBytes -= int64(len(ents[i].Key) + len(ents[i].Value) + 32)
	}
	s.pendSince = time.Time{}
	if len(s.pend) > 0 {
		s.pendSince = time.Now() // near enough: they came during the commit
	}
	s.dbRev, s.dbOldest = st.applied.Rev, st.oldest
	n := 0
	for n < len(s.ovEntries) && s.ovEntries[n].Rev <= s.dbRev {
		n++
	}
	for _, e := range s.ovEntries[:n] {
		if it, ok := s.ovItems[e.Key]; ok && it.item.Rev <= s.dbRev {
			delete(s.ovItems, e.Key)
		}
	}
	// A fresh slice, so the applied entries' memory can go.
	s.ovEntries = append([]checkpoint.Entry(nil), s.ovEntries[n:]...)
	s.mu.Unlock()
	s.recycle(lastIdx)
	return nil
}

// closing reports whether Close was called.
func (s *Store) closing() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// recycle frees the segments whose records are all in bbolt.
func (s *Store) recycle(applied uint64) {
	s.segMu.Lock()
	s.appliedRec = applied
	var drop []string
	keep := s.segs[:0]
	for i, seg := range s.segs {
		if i < len(s.segs)-1 && seg.lastRec <= applied {
			if len(s.free) < keepFree {
				s.free = append(s.free, seg.path)
			} else {
				drop = append(drop, seg.path)
			}
			continue
		}
		keep = append(keep, seg)
	}
	s.segs = keep
	s.segMu.Unlock()
	for _, p := range drop {
		if err := os.Remove(p); err != nil {
			s.log.WithError(err).Warn("checkpoint store: remove an old log segment")
		}
	}
	if len(drop) > 0 {
		durable.SyncDir(s.walDir) // best effort: a segment found again is applied, hence skipped
	}
	s.wakePreparer()
}

// hook is called at the points where the crash tests kill the process.
var hook = func(string) {}
