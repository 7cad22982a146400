package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vnfha/vnfha/checkpoint"
)

// The bbolt schema (see doc.go).
var (
	bucketMeta    = []byte("meta")
	bucketItems   = []byte("items")
	bucketEntries = []byte("entries")
	bucketEpochs  = []byte("epochs")

	metaSchema   = []byte("schema")
	metaGen      = []byte("generation")
	metaEpoch    = []byte("epoch")
	metaApplied  = []byte("applied")
	metaRetained = []byte("retained")
)

const schemaVersion = 1

// dbState is what the meta bucket says.
type dbState struct {
	gen      uint64
	epoch    uint64
	applied  checkpoint.Position
	oldest   uint64 // oldest retained entry; 0: none
	retBytes int64  // bytes of the retained entries
	epochs   map[uint64]uint64
}

func boltOptions() *bolt.Options {
	return &bolt.Options{
		Timeout: time.Second,
		// The freelist is rebuilt at open instead of written at every
		// commit: one page less per commit, still crash safe (unlike
		// NoSync, which this store never uses).
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// A larger first mapping delays the remaps that make a commit
		// wait for every reader.
		InitialMmapSize: 64 << 20,
	}
}

func newGeneration() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// initDB creates the buckets of a new store, or checks an existing one's
// schema, and reads its state.
func initDB(db *bolt.DB) (dbState, error) {
	var st dbState
	err := db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			for _, name := range [][]byte{bucketMeta, bucketItems, bucketEntries, bucketEpochs} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			m = tx.Bucket(bucketMeta)
			if err := m.Put(metaSchema, u64key(schemaVersion)); err != nil {
				return err
			}
			if err := m.Put(metaGen, u64key(newGeneration())); err != nil {
				return err
			}
		}
		var err error
		st, err = readState(tx)
		return err
	})
	return st, err
}

func readState(tx *bolt.Tx) (dbState, error) {
	var st dbState
	m := tx.Bucket(bucketMeta)
	if m == nil || tx.Bucket(bucketItems) == nil || tx.Bucket(bucketEntries) == nil || tx.Bucket(bucketEpochs) == nil {
		return st, errors.New("not a checkpoint store database (buckets missing)")
	}
	if v := m.Get(metaSchema); len(v) != 8 || binary.BigEndian.Uint64(v) != schemaVersion {
		return st, fmt.Errorf("database schema %x, want %d", v, schemaVersion)
	}
	u64 := func(k []byte, n int) ([]uint64, error) {
		v := m.Get(k)
		if v == nil {
			return make([]uint64, n), nil
		}
		if len(v) != 8*n {
			return nil, fmt.Errorf("meta %s: %d bytes", k, len(v))
		}
		out := make([]uint64, n)
		for i := range out {
			out[i] = binary.BigEndian.Uint64(v[8*i:])
		}
		return out, nil
	}
	gen, err := u64(metaGen, 1)
	if err != nil {
		return st, err
	}
	ep, err := u64(metaEpoch, 1)
	if err != nil {
		return st, err
	}
	ap, err := u64(metaApplied, 2)
	if err != nil {
		return st, err
	}
	rt, err := u64(metaRetained, 2)
	if err != nil {
		return st, err
	}
	st.gen, st.epoch = gen[0], ep[0]
	st.applied = checkpoint.Position{Epoch: ap[0], Rev: ap[1]}
	st.oldest, st.retBytes = rt[0], int64(rt[1])
	if st.gen == 0 {
		return st, errors.New("meta: no generation")
	}
	if st.oldest != 0 && st.oldest > st.applied.Rev {
		return st, fmt.Errorf("meta: oldest retained entry %d after the applied revision %d", st.oldest, st.applied.Rev)
	}
	st.epochs = map[uint64]uint64{}
	err = tx.Bucket(bucketEpochs).ForEach(func(k, v []byte) error {
		if len(k) != 8 || len(v) != 8 {
			return fmt.Errorf("epochs bucket: a %d-byte key and %d-byte value", len(k), len(v))
		}
		st.epochs[binary.BigEndian.Uint64(k)] = binary.BigEndian.Uint64(v)
		return nil
	})
	return st, err
}

func putU64s(m *bolt.Bucket, k []byte, vs ...uint64) error {
	b := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return m.Put(k, b)
}

// applyTx writes entries (the revisions after st.applied, in order) and an
// epoch into the database within tx, drops the retained entries over the
// limits, and updates st to match. A bbolt transaction that fails leaves
// st to be discarded by the caller.
func applyTx(tx *bolt.Tx, st *dbState, entries []checkpoint.Entry, epoch uint64, o *Options) error {
	items, ents, epochs, meta := tx.Bucket(bucketItems), tx.Bucket(bucketEntries), tx.Bucket(bucketEpochs), tx.Bucket(bucketMeta)
	// Entries only ever go at the end: pages filled to the brim rather
	// than split in halves (bbolt's default for random inserts) are
	// fewer pages to write at each commit and in the file.
	ents.FillPercent = 0.95
	// bbolt keeps the slices given to Put until the commit: each gets
	// its own.
	for i := range entries {
		e := &entries[i]
		if e.Rev != st.applied.Rev+1 || e.Epoch < st.applied.Epoch {
			return fmt.Errorf("apply %d:%d after %s", e.Epoch, e.Rev, st.applied)
		}
		switch e.Op {
		case checkpoint.OpPut:
			created := e.Rev
			if old := items.Get([]byte(e.Key)); old != nil {
				it, err := decodeItem(e.Key, old)
				if err != nil {
					return err
				}
				created = it.Created
			}
			if err := items.Put([]byte(e.Key), encodeItem(nil, e.Rev, created, e.Value)); err != nil {
				return fmt.Errorf("put %q: %w", e.Key, err)
			}
		case checkpoint.OpDelete:
			if err := items.Delete([]byte(e.Key)); err != nil {
				return fmt.Errorf("delete %q: %w", e.Key, err)
			}
		}
		if _, ok := st.epochs[e.Epoch]; !ok {
			st.epochs[e.Epoch] = e.Rev
			if err := epochs.Put(u64key(e.Epoch), u64key(e.Rev)); err != nil {
				return err
			}
		}
		buf := appendEntry(nil, e)
		if o.RetainEntries > 0 && o.RetainBytes > 0 {
			if err := ents.Put(u64key(e.Rev), buf); err != nil {
				return fmt.Errorf("keep entry %d: %w", e.Rev, err)
			}
			if st.oldest == 0 {
				st.oldest = e.Rev
			}
			st.retBytes += int64(len(buf))
		}
		st.applied = e.Position()
		if st.epoch < e.Epoch {
			st.epoch = e.Epoch
		}
	}
	// Drop the oldest entries over either limit.
	c := ents.Cursor()
	for k, v := c.First(); k != nil && st.oldest != 0; k, v = c.First() {
		if int(st.applied.Rev-st.oldest+1) <= o.RetainEntries && st.retBytes <= o.RetainBytes {
			break
		}
		if len(k) != 8 || binary.BigEndian.Uint64(k) != st.oldest {
			return fmt.Errorf("entries bucket: first key %x, want revision %d", k, st.oldest)
		}
		st.retBytes -= int64(len(v))
		if err := c.Delete(); err != nil {
			return err
		}
		st.oldest++
		if st.oldest > st.applied.Rev {
			st.oldest, st.retBytes = 0, 0
		}
	}
	if epoch > st.epoch {
		st.epoch = epoch
	}
	if err := putU64s(meta, metaEpoch, st.epoch); err != nil {
		return err
	}
	if err := putU64s(meta, metaApplied, st.applied.Epoch, st.applied.Rev); err != nil {
		return err
	}
	return putU64s(meta, metaRetained, st.oldest, uint64(st.retBytes))
}

// readItem reads key's item from bbolt (ok false: no such key).
func readItem(tx *bolt.Tx, key string) (checkpoint.Item, bool, error) {
	v := tx.Bucket(bucketItems).Get([]byte(key))
	if v == nil {
		return checkpoint.Item{}, false, nil
	}
	it, err := decodeItem(key, v)
	return it, err == nil, err
}
