package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/vnfha/vnfha/checkpoint"
)

// Reads see everything appended: the overlay (what the log holds and
// bbolt does not yet) first, bbolt for the rest. A reader takes mu's read
// lock while it looks at the overlay and begins its bbolt transaction;
// the applier removes from the overlay only under the write lock and after
// its commit, so a reader that misses the overlay finds the commit.

// readTx begins a bbolt read transaction; mu is read-locked by the caller.
func (s *Store) readTxLocked() (*bolt.Tx, error) {
	if s.closed {
		return nil, checkpoint.ErrClosed
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("read the checkpoint database: %w", err)
	}
	return tx, nil
}

// Get returns key's item and the revision the store has applied
// (checkpoint.ErrNotFound when there is no such key).
func (s *Store) Get(key string) (checkpoint.Item, uint64, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return checkpoint.Item{}, 0, checkpoint.ErrClosed
	}
	rev := s.pos.Rev
	if ov, ok := s.ovItems[key]; ok {
		s.mu.RUnlock()
		if ov.deleted {
			return checkpoint.Item{}, rev, checkpoint.ErrNotFound
		}
		it := ov.item
		it.Value = append([]byte{}, it.Value...)
		return it, rev, nil
	}
	tx, err := s.readTxLocked()
	s.mu.RUnlock()
	if err != nil {
		return checkpoint.Item{}, 0, err
	}
	defer tx.Rollback()
	it, ok, err := readItem(tx, key)
	switch {
	case err != nil:
		return checkpoint.Item{}, 0, fmt.Errorf("get %q: %w", key, err)
	case !ok:
		return checkpoint.Item{}, rev, checkpoint.ErrNotFound
	}
	return it, rev, nil
}

// List returns up to limit items (all when limit ≤ 0) whose keys start
// with prefix and sort after after, in key order, the revision the list
// was read at, and whether more items follow.
func (s *Store) List(prefix, after string, limit int) ([]checkpoint.Item, uint64, bool, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, 0, false, checkpoint.ErrClosed
	}
	rev := s.pos.Rev
	var ovKeys []string
	ov := map[string]ovItem{}
	for k, it := range s.ovItems {
		if strings.HasPrefix(k, prefix) && k > after {
			ovKeys = append(ovKeys, k)
			ov[k] = it
		}
	}
	tx, err := s.readTxLocked()
	s.mu.RUnlock()
	if err != nil {
		return nil, 0, false, err
	}
	defer tx.Rollback()
	sort.Strings(ovKeys)

	var items []checkpoint.Item
	full := func() bool { return limit > 0 && len(items) == limit }
	c := tx.Bucket(bucketItems).Cursor()
	seek := []byte(prefix)
	if after >= prefix {
		seek = append([]byte(after), 0)
	}
	k, v := c.Seek(seek)
	next := func() {
		k, v = c.Next()
	}
	pfx := []byte(prefix)
	for {
		dbOK := k != nil && bytes.HasPrefix(k, pfx)
		if !dbOK && len(ovKeys) == 0 {
			return items, rev, false, nil
		}
		// The smaller key of the two sources; the overlay wins a tie.
		var key string
		fromOv := false
		switch {
		case !dbOK:
			key, fromOv = ovKeys[0], true
		case len(ovKeys) == 0:
			key = string(k)
		default:
			if c := strings.Compare(ovKeys[0], string(k)); c <= 0 {
				key, fromOv = ovKeys[0], true
				if c == 0 {
					next()
				}
			} else {
				key = string(k)
			}
		}
		var it checkpoint.Item
		if fromOv {
			ovKeys = ovKeys[1:]
			o := ov[key]
			if o.deleted {
				continue
			}
			it = o.item
			it.Value = append([]byte{}, it.Value...)
		} else {
			it, err = decodeItem(key, v)
			if err != nil {
				return nil, 0, false, fmt.Errorf("list %q: %w", prefix, err)
			}
			next()
		}
		if full() {
			return items, rev, true, nil
		}
		items = append(items, it)
	}
}

// Entries returns the entries after revision from, in order: at most max
// of them (all when max ≤ 0) and, past the first, at most maxBytes of
// keys and values (no bound when maxBytes ≤ 0). It fails with
// *checkpoint.CompactedError when the entries after from are no longer
// kept (from < Oldest()-1).
func (s *Store) Entries(from uint64, max int, maxBytes int64) ([]checkpoint.Entry, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, checkpoint.ErrClosed
	}
	pos := s.pos
	oldest := s.oldestLocked()
	if from >= pos.Rev {
		s.mu.RUnlock()
		return nil, nil
	}
	if from+1 < oldest {
		s.mu.RUnlock()
		return nil, &checkpoint.CompactedError{From: from, Oldest: oldest}
	}
	ov := s.ovEntries
	var tx *bolt.Tx
	var err error
	if from < s.dbRev {
		tx, err = s.readTxLocked()
	}
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	var out []checkpoint.Entry
	var size int64
	full := func(e *checkpoint.Entry) bool {
		if max > 0 && len(out) >= max {
			return true
		}
		return maxBytes > 0 && len(out) > 0 && size+int64(len(e.Key)+len(e.Value)) > maxBytes
	}
	next := from + 1
	if tx != nil {
		defer tx.Rollback()
		c := tx.Bucket(bucketEntries).Cursor()
		for k, v := c.Seek(u64key(next)); k != nil; k, v = c.Next() {
			if len(k) != 8 || binary.BigEndian.Uint64(k) != next {
				// The applier dropped them since the check above.
				if next == from+1 {
					return nil, &checkpoint.CompactedError{From: from, Oldest: s.Oldest()}
				}
				return nil, fmt.Errorf("entries: revision %x found where %d was expected", k, next)
			}
			e, err := decodeEntry(v)
			if err != nil {
				return nil, fmt.Errorf("entries: revision %d: %w", next, err)
			}
			if e.Rev != next {
				return nil, fmt.Errorf("entries: revision %d stored under %d", e.Rev, next)
			}
			if full(&e) {
				return out, nil
			}
			out = append(out, e)
			size += int64(len(e.Key) + len(e.Value))
			next++
		}
		if next == from+1 && from < s.dbRevAt(tx) {
			return nil, &checkpoint.CompactedError{From: from, Oldest: s.Oldest()}
		}
	}
	for i := range ov {
		e := ov[i]
		if e.Rev < next {
			continue
		}
		if e.Rev != next {
			return nil, fmt.Errorf("entries: revision %d in the log where %d was expected", e.Rev, next)
		}
		if full(&e) {
			return out, nil
		}
		if e.Value != nil {
			e.Value = append([]byte(nil), e.Value...)
		}
		out = append(out, e)
		size += int64(len(e.Key) + len(e.Value))
		next++
	}
	return out, nil
}

// dbRevAt is the revision tx's database has applied.
func (s *Store) dbRevAt(tx *bolt.Tx) uint64 {
	v := tx.Bucket(bucketMeta).Get(metaApplied)
	if len(v) != 16 {
		return 0
	}
	return binary.BigEndian.Uint64(v[8:])
}
