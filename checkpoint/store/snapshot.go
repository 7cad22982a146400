package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/internal/durable"
)

// A snapshot stream (see doc.go): a header, a copy of the bbolt database,
// the entries that were only in the log, and a CRC32C of all of it.
const (
	snapMagic   = "VNFHASNP"
	snapVersion = 1
	snapHeader  = 8 + 4 + 8*4
	// maxSnapDB refuses a database size no disk holds, before anything is
	// written.
	maxSnapDB = 1 << 44
)

// snapHead is a snapshot's header.
type snapHead struct {
	pos    checkpoint.Position
	epoch  uint64
	dbSize int64
}

// Snapshot writes a consistent copy of the whole state to w and returns
// its position. It runs concurrently with appends, which it does not see.
func (s *Store) Snapshot(w io.Writer) (checkpoint.Position, error) {
	s.mu.RLock()
	pos, epoch, ov := s.pos, s.epoch, s.ovEntries
	tx, err := s.readTxLocked()
	s.mu.RUnlock()
	if err != nil {
		return checkpoint.Position{}, err
	}
	defer tx.Rollback()
	// The applier may have committed more than the overlay says.
	applied := s.dbRevAt(tx)
	for len(ov) > 0 && ov[0].Rev <= applied {
		ov = ov[1:]
	}
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<16)
	h := snapHead{pos: pos, epoch: epoch, dbSize: tx.Size()}
	bw.Write(h.encode())
	if _, err := tx.WriteTo(bw); err != nil {
		return checkpoint.Position{}, fmt.Errorf("snapshot: copy the database: %w", err)
	}
	var b []byte
	b = binary.LittleEndian.AppendUint64(b, uint64(len(ov)))
	bw.Write(b)
	for i := range ov {
		b = appendEntry(b[:4], &ov[i])
		binary.LittleEndian.PutUint32(b, uint32(len(b)-4))
		bw.Write(b)
	}
	if err := bw.Flush(); err != nil {
		return checkpoint.Position{}, fmt.Errorf("snapshot: %w", err)
	}
	if _, err := w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return checkpoint.Position{}, fmt.Errorf("snapshot: %w", err)
	}
	return pos, nil
}

func (h *snapHead) encode() []byte {
	b := append([]byte(snapMagic), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[8:], snapVersion)
	b = binary.LittleEndian.AppendUint64(b, h.pos.Epoch)
	b = binary.LittleEndian.AppendUint64(b, h.pos.Rev)
	b = binary.LittleEndian.AppendUint64(b, h.epoch)
	return binary.LittleEndian.AppendUint64(b, uint64(h.dbSize))
}

// crcReader hashes what it reads.
type crcReader struct {
	r io.Reader
	h hash.Hash32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	return n, err
}

// readSnapshot reads a snapshot stream: the database copy goes to db, the
// header and the log's entries are returned, once the checksum at the end
// matched. It reads exactly the snapshot, nothing after it.
func readSnapshot(r io.Reader, db io.Writer) (snapHead, []checkpoint.Entry, error) {
	var h snapHead
	cr := &crcReader{r: r, h: crc32.New(castagnoli)}
	var hb [snapHeader]byte
	if _, err := io.ReadFull(cr, hb[:]); err != nil {
		return h, nil, fmt.Errorf("snapshot header: %w", unexpected(err))
	}
	if string(hb[:8]) != snapMagic {
		return h, nil, errors.New("not a checkpoint snapshot (bad magic)")
	}
	if v := binary.LittleEndian.Uint32(hb[8:]); v != snapVersion {
		return h, nil, fmt.Errorf("snapshot version %d, want %d", v, snapVersion)
	}
	h.pos.Epoch = binary.LittleEndian.Uint64(hb[12:])
	h.pos.Rev = binary.LittleEndian.Uint64(hb[20:])
	h.epoch = binary.LittleEndian.Uint64(hb[28:])
	size := binary.LittleEndian.Uint64(hb[36:])
	if size > maxSnapDB || size < 4096 {
		return h, nil, fmt.Errorf("snapshot database of %d bytes", size)
	}
	h.dbSize = int64(size)
	if h.pos.Epoch > h.epoch {
		return h, nil, fmt.Errorf("snapshot at %s with the epoch %d", h.pos, h.epoch)
	}
	if _, err := io.CopyN(db, cr, h.dbSize); err != nil {
		return h, nil, fmt.Errorf("snapshot database: %w", unexpected(err))
	}
	var nb [8]byte
	if _, err := io.ReadFull(cr, nb[:]); err != nil {
		return h, nil, fmt.Errorf("snapshot entries: %w", unexpected(err))
	}
	n := binary.LittleEndian.Uint64(nb[:])
	if n > h.pos.Rev {
		return h, nil, fmt.Errorf("snapshot at %s with %d entries from the log", h.pos, n)
	}
	var ents []checkpoint.Entry
	var buf []byte
	for i := uint64(0); i < n; i++ {
		var lb [4]byte
		if _, err := io.ReadFull(cr, lb[:]); err != nil {
			return h, nil, fmt.Errorf("snapshot entry %d: %w", i, unexpected(err))
		}
		l := binary.LittleEndian.Uint32(lb[:])
		if l > maxEntryValue+checkpoint.MaxKeyLen+64 {
			return h, nil, fmt.Errorf("snapshot entry %d: %d bytes", i, l)
		}
		// Grown as the bytes arrive, so a lying length costs nothing.
		buf = buf[:0]
		if _, err := io.CopyN(bytesWriter{&buf}, cr, int64(l)); err != nil {
			return h, nil, fmt.Errorf("snapshot entry %d: %w", i, unexpected(err))
		}
		e, err := decodeEntry(buf)
		if err != nil {
			return h, nil, fmt.Errorf("snapshot entry %d: %w", i, err)
		}
		if i > 0 && (e.Rev != ents[i-1].Rev+1 || e.Epoch < ents[i-1].Epoch) {
			return h, nil, fmt.Errorf("snapshot entry %s after %s", e.Position(), ents[i-1].Position())
		}
		ents = append(ents, e)
	}
	if n > 0 && ents[n-1].Position() != h.pos {
		return h, nil, fmt.Errorf("snapshot at %s ends with the entry %s", h.pos, ents[n-1].Position())
	}
	sum := cr.h.Sum32()
	var cb [4]byte
	if _, err := io.ReadFull(r, cb[:]); err != nil {
		return h, nil, fmt.Errorf("snapshot checksum: %w", unexpected(err))
	}
	if got := binary.LittleEndian.Uint32(cb[:]); got != sum {
		return h, nil, fmt.Errorf("snapshot checksum %08x, computed %08x: the snapshot is damaged", got, sum)
	}
	return h, ents, nil
}

type bytesWriter struct{ b *[]byte }

func (w bytesWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Restore replaces the whole state with a snapshot, atomically: it reads
// and checks all of it first (its checksum, then every page of the
// database it holds), and a crash at any point leaves, at the next Open,
// either the old state or the new one. The store's epoch never goes back:
// it becomes the snapshot's or stays the store's, whichever is higher.
func (s *Store) Restore(r io.Reader) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, restoreName)
	st, pos, err := s.prepareRestore(tmp, r)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore: %w", err)
	}
	return s.swap(tmp, st, pos)
}

// prepareRestore writes the snapshot's database to tmp, checks it, and
// brings it to the snapshot's position, in a new generation.
func (s *Store) prepareRestore(tmp string, r io.Reader) (dbState, checkpoint.Position, error) {
	var st dbState
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return st, checkpoint.Position{}, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	h, ents, err := readSnapshot(r, bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if isNoSpace(err) {
			err = fmt.Errorf("%w: %w", checkpoint.ErrNoSpace, err)
		}
		return st, h.pos, err
	}
	hook("restore:written")
	db, err := bolt.Open(tmp, 0o600, boltOptions())
	if err != nil {
		return st, h.pos, fmt.Errorf("open the snapshot's database: %w", err)
	}
	defer db.Close()
	if st, err = checkDB(db); err != nil {
		return st, h.pos, fmt.Errorf("the snapshot's database: %w", err)
	}
	if n := len(ents); n > 0 && ents[0].Rev != st.applied.Rev+1 || n == 0 && st.applied != h.pos {
		return st, h.pos, fmt.Errorf("the snapshot's database is at %s, its log does not bring it to %s", st.applied, h.pos)
	}
	epoch := max(h.epoch, s.Epoch())
	err = db.Update(func(tx *bolt.Tx) error {
		st.gen = newGeneration()
		if err := putU64s(tx.Bucket(bucketMeta), metaGen, st.gen); err != nil {
			return err
		}
		return applyTx(tx, &st, ents, epoch, &s.opt)
	})
	if err != nil {
		if isNoSpace(err) {
			err = fmt.Errorf("%w: %w", checkpoint.ErrNoSpace, err)
		}
		return st, h.pos, fmt.Errorf("bring the snapshot's database to %s: %w", h.pos, err)
	}
	return st, h.pos, nil
}

// checkDB reads every item and retained entry of a database that came
// from elsewhere, so that damage shows now rather than at a read. bbolt
// may panic on a damaged page: that is an error here.
func checkDB(db *bolt.DB) (st dbState, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("damaged: %v", p)
		}
	}()
	err = db.View(func(tx *bolt.Tx) error {
		var err error
		if st, err = readState(tx); err != nil {
			return err
		}
		if err := tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
			if err := checkpoint.ValidKey(string(k)); err != nil {
				return err
			}
			_, err := decodeItem(string(k), v)
			return err
		}); err != nil {
			return err
		}
		next, bytes := st.oldest, int64(0)
		if err := tx.Bucket(bucketEntries).ForEach(func(k, v []byte) error {
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			if len(k) != 8 || binary.BigEndian.Uint64(k) != next || e.Rev != next {
				return fmt.Errorf("retained entry %d where %d was expected", e.Rev, next)
			}
			next++
			bytes += int64(len(v))
			return nil
		}); err != nil {
			return err
		}
		if st.oldest != 0 && (next != st.applied.Rev+1 || bytes != st.retBytes) {
			return fmt.Errorf("retained entries %d to %d (%d bytes), the meta says up to %d (%d bytes)", st.oldest, next-1, bytes, st.applied.Rev, st.retBytes)
		}
		return nil
	})
	return st, err
}

// swap puts the restored database in place of the store's: the rename is
// the commit point.
func (s *Store) swap(tmp string, st dbState, pos checkpoint.Position) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	path := filepath.Join(s.dir, dbName)
	if err := s.db.Close(); err != nil {
		s.log.WithError(err).Warn("checkpoint store: close the database replaced by a restore")
	}
	renameErr := os.Rename(tmp, path)
	var syncErr error
	if renameErr == nil {
		hook("restore:renamed")
		syncErr = durable.SyncDir(s.dir)
	}
	db, err := bolt.Open(path, 0o600, boltOptions())
	if err != nil {
		// Neither the old database nor the new one can be read: nothing
		// more can be served.
		s.closed = true
		s.problems["database"] = "database: cannot reopen after a restore: " + err.Error()
		return fmt.Errorf("restore: reopen the database: %w", err)
	}
	s.db = db
	if renameErr != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore: replace the database: %w", renameErr)
	}
	// The new state; the log's segments belong to the old generation,
	// which the next Open ignores: they are recycled.
	s.dbst = st
	s.gen = st.gen
	s.pos, s.epoch = pos, st.epoch
	s.dbRev, s.dbOldest = st.applied.Rev, st.oldest
	s.ovEntries, s.ovItems, s.pend = nil, map[string]ovItem{}, nil
	s.pendBytes, s.pendSince = 0, time.Time{}
	s.epochStarts = map[uint64]uint64{}
	for e, r := range st.epochs {
		s.epochStarts[e] = r
	}
	s.segMu.Lock()
	for _, seg := range s.segs {
		s.free = append(s.free, seg.path)
	}
	s.segs, s.active = nil, nil
	var drop []string
	if len(s.free) > keepFree {
		drop = append(drop, s.free[keepFree:]...)
		s.free = s.free[:keepFree]
	}
	s.appliedRec = s.recIdx
	s.segMu.Unlock()
	for _, p := range drop {
		os.Remove(p)
	}
	if s.activeF != nil {
		s.activeF.Close()
	}
	s.activeF, s.off, s.size, s.prevSeq, s.prevEnd = nil, 0, 0, 0, 0
	s.notifyLocked()
	if syncErr != nil {
		// The new state is the one in place, but a crash may yet bring
		// back the old one: not the success Restore promises.
		return fmt.Errorf("restore: fsync %s after the rename: %w", s.dir, syncErr)
	}
	s.log.WithField("position", pos.String()).Info("checkpoint store: restored from a snapshot")
	return nil
}
