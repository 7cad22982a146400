// Package cibstore keeps the bridge's delivery store in the CIB: one
// permanent node attribute per event, in the <nodes> section, so that the
// pending set survives a crash of the bridge, the loss of its node and a
// full restart of the cluster, and a new bridge on any node carries on
// where the old one stopped. It implements delivery.Store.
//
// An attribute is named AttrName(event id) and holds compact JSON:
//
//	{"v":1,"event":<delivery.Event>,"owed":["sink",...],"done":["sink",...]}
//
// "owed" are the sinks that still have to get the event, "done" the ones
// that have it (delivered, or given up on). The store reads <nodes> once
// and then answers from a mirror in memory: only one bridge runs at a
// time (it is a Pacemaker resource), and every write goes through it.
package cibstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/crmwrap"
)

// Defaults of Options.
const (
	DefaultMaxEntries = 1000
	DefaultTimeout    = 10 * time.Second
	// maxWriters bounds the cibadmin processes one store runs at once:
	// a burst of events (one host loss fails several VNFCs) should not
	// fork dozens of them on a node that is busy recovering.
	maxWriters = 4
	// pruneBatch bounds the ids in one delete's XPath.
	pruneBatch = 64
)

// ErrFull is returned (wrapped) by Add when the store holds MaxEntries
// events: the CIB must not grow without bound while a sink is down for
// long. Prune, or a sink that comes back, makes room.
var ErrFull = errors.New("delivery store full")

// ErrNotOurs is returned (wrapped) by Add and Done for an event whose
// attribute holds a value the store did not write (an operator edited
// it): the store never overwrites it. Delete the attribute to let the
// bridge use it again.
var ErrNotOurs = errors.New("attribute holds a value that is not a vnfha delivery record")

// Options configure a Store.
type Options struct {
	// Client runs cibadmin; it must reach the CIB of the cluster the
	// bridge runs in. Required.
	Client *crmwrap.Client
	// LocalNode is the node the bridge runs on (its uname): events whose
	// Data.Node is not a node of <nodes> are kept there. Required.
	LocalNode string
	// Log receives a warning for each attribute that is not ours, once;
	// nil discards.
	Log logrus.FieldLogger
	// MaxEntries is how many events the store holds at most, delivered
	// ones not yet pruned included (default DefaultMaxEntries).
	MaxEntries int
	// Timeout bounds each cibadmin call, within the caller's context
	// (default DefaultTimeout).
	Timeout time.Duration
}

// Store is a delivery.Store kept in the CIB. It is safe for concurrent
// use: calls for different events run concurrently, calls for one event
// are serialised, so that its writes reach the CIB in the order made.
type Store struct {
	o   Options
	sem chan struct{}

	loadMu sync.Mutex // held while loading, so that only one loads
	locks  keyedMutex // per attribute name, held across its write

	mu      sync.Mutex
	loaded  bool
	nodes   map[string]cibNode // by uname
	entries map[string]*entry  // by attribute name
	foreign map[string]place   // attributes that are not ours, by name
	adding  int                // new entries being written, held against MaxEntries

	bmu      sync.Mutex
	batches  map[string][]*queued // writes waiting, by node id
	flushing map[string]bool      // a flush goroutine runs for the node
}

// entry is one of the store's attributes: where it is and what it holds.
type entry struct {
	at  place
	rec record
}

// New returns a Store. Nothing is read until the first call.
func New(o Options) (*Store, error) {
	if o.Client == nil {
		return nil, errors.New("cibstore: no crmwrap client")
	}
	if o.LocalNode == "" {
		return nil, errors.New("cibstore: the local node is not known")
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetLevel(logrus.PanicLevel)
		o.Log = l
	}
	return &Store{o: o, sem: make(chan struct{}, maxWriters)}, nil
}

var _ delivery.Store = (*Store)(nil)

// Pending implements delivery.Store: every event some sink still has to
// get, oldest Time first (then by id). The first call of any method reads
// <nodes>; later ones answer from memory.
func (s *Store) Pending(ctx context.Context) ([]delivery.Pending, error) {
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []delivery.Pending
	for _, e := range s.entries {
		if len(e.rec.Owed) > 0 {
			out = append(out, delivery.Pending{Event: e.rec.Event, Sinks: slices.Clone(e.rec.Owed)})
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Event, out[j].Event
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		return a.ID < b.ID
	})
	return out, nil
}

// Seen implements delivery.Store: sink is among the event's done sinks.
func (s *Store) Seen(ctx context.Context, id, sink string) (bool, error) {
	if err := s.load(ctx); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[AttrName(id)]
	return ok && e.rec.Event.ID == canonID(id) && slices.Contains(e.rec.Done, sink), nil
}

// Add implements delivery.Store. It writes the event's attribute, or
// merges sinks into the one there, and returns once the CIB accepted the
// write. A sink already done is owed again: the caller asked for it. A
// Reason too long for MaxValue is trimmed in what is kept.
func (s *Store) Add(ctx context.Context, e delivery.Event, sinks []string) error {
	if e.ID == "" {
		return errors.New("add event to the CIB store: empty event id")
	}
	for _, sink := range sinks {
		if sink == "" {
			return fmt.Errorf("add event %.100q to the CIB store: empty sink name", e.ID)
		}
	}
	if err := s.load(ctx); err != nil {
		return err
	}
	e.ID = canonID(e.ID)
	name := AttrName(e.ID)
	unlock := s.locks.lock(name)
	defer unlock()

	s.mu.Lock()
	cur, exists := s.entries[name]
	_, foreign := s.foreign[name]
	full := !exists && len(s.entries)+s.adding >= s.o.MaxEntries
	if !exists && !full && !foreign {
		s.adding++
		defer func() { s.mu.Lock(); s.adding--; s.mu.Unlock() }()
	}
	s.mu.Unlock()
	switch {
	case foreign:
		return fmt.Errorf("add event %.100q to the CIB store: %s: %w", e.ID, name, ErrNotOurs)
	case exists && cur.rec.Event.ID != e.ID:
		// 80 bits of SHA-256 collide by accident only in theory; a
		// record copied under another name is caught when loading.
		return fmt.Errorf("add event %.100q to the CIB store: %s holds event %.100q", e.ID, name, cur.rec.Event.ID)
	case full:
		return fmt.Errorf("add event %.100q to the CIB store: %w (%d events; prune, or let the sinks catch up)", e.ID, ErrFull, s.o.MaxEntries)
	}

	var next entry
	if exists {
		next = entry{at: cur.at, rec: cur.rec.clone()}
	} else {
		at, err := s.placeFor(ctx, e, name)
		if err != nil {
			return fmt.Errorf("add event %.100q to the CIB store: %w", e.ID, err)
		}
		next = entry{at: at, rec: record{Event: e}}
	}
	changed := !exists
	for _, sink := range dedup(sinks) {
		if !slices.Contains(next.rec.Owed, sink) {
			next.rec.Owed = append(next.rec.Owed, sink)
			next.rec.Done = slices.DeleteFunc(next.rec.Done, func(d string) bool { return d == sink })
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if err := s.write(ctx, name, &next); err != nil {
		return fmt.Errorf("add event %.100q to the CIB store: %w", e.ID, err)
	}
	return nil
}

// Done implements delivery.Store: sink moves from the event's owed sinks
// to its done ones. The attribute stays (Prune removes it), so that the
// same fact derived again is not sent again. Done for an event the store
// does not hold does nothing.
func (s *Store) Done(ctx context.Context, id, sink string) error {
	if sink == "" {
		return fmt.Errorf("record delivery of %.100q in the CIB store: empty sink name", id)
	}
	if err := s.load(ctx); err != nil {
		return err
	}
	name := AttrName(id)
	unlock := s.locks.lock(name)
	defer unlock()

	s.mu.Lock()
	cur, exists := s.entries[name]
	_, foreign := s.foreign[name]
	s.mu.Unlock()
	if foreign {
		return fmt.Errorf("record delivery of %.100q to %.100q in the CIB store: %s: %w", id, sink, name, ErrNotOurs)
	}
	if !exists || cur.rec.Event.ID != canonID(id) || slices.Contains(cur.rec.Done, sink) {
		return nil
	}
	next := entry{at: cur.at, rec: cur.rec.clone()}
	next.rec.Owed = slices.DeleteFunc(next.rec.Owed, func(o string) bool { return o == sink })
	next.rec.Done = append(next.rec.Done, sink)
	if err := s.write(ctx, name, &next); err != nil {
		return fmt.Errorf("record delivery of %.100q to %.100q in the CIB store: %w", id, sink, err)
	}
	return nil
}

// Prune deletes the entries that no sink still owes and whose fact is
// gone (live returns false for the id), in one cibadmin call per
// pruneBatch entries, and returns how many it deleted. An entry still
// owed is never pruned, and neither is a delivered one whose fact is
// live, so that the fact derived again is not sent again. live is called
// without any lock held.
func (s *Store) Prune(ctx context.Context, live func(id string) bool) (int, error) {
	if err := s.load(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	var cand []string
	ids := map[string]string{}
	for name, e := range s.entries {
		if len(e.rec.Owed) == 0 {
			cand = append(cand, name)
			ids[name] = e.rec.Event.ID
		}
	}
	s.mu.Unlock()
	var gone []string
	for _, name := range cand {
		if !live(ids[name]) {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	n := 0
	for len(gone) > 0 {
		batch := gone[:min(pruneBatch, len(gone))]
		gone = gone[len(batch):]
		k, err := s.prune(ctx, batch)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (s *Store) prune(ctx context.Context, names []string) (int, error) {
	// In sorted order, the only order in which anything takes more than
	// one of these locks.
	for _, name := range names {
		defer s.locks.lock(name)()
	}
	s.mu.Lock()
	var del []string
	var terms []string
	for _, name := range names {
		if e, ok := s.entries[name]; ok && len(e.rec.Owed) == 0 {
			del = append(del, name)
			terms = append(terms, "@id="+crmwrap.XPathLiteral(e.at.PairID))
		}
	}
	s.mu.Unlock()
	if len(del) == 0 {
		return 0, nil
	}
	xpath := "/cib/configuration/nodes/node/instance_attributes/nvpair[starts-with(@name," +
		crmwrap.XPathLiteral(AttrPrefix) + ") and (" + strings.Join(terms, " or ") + ")]"
	err := s.cib(ctx, func(ctx context.Context) error { return s.o.Client.DeleteXPath(ctx, xpath, true) })
	if err != nil {
		return 0, fmt.Errorf("prune %d delivered events from the CIB store: %w", len(del), err)
	}
	s.mu.Lock()
	for _, name := range del {
		delete(s.entries, name)
	}
	s.mu.Unlock()
	return len(del), nil
}

// Rehome writes again, on the local node, every entry whose node has
// left <nodes>, and returns how many it moved. `crm_node --remove` of a
// lost node deletes its <node> entry with the events kept there: the
// bridge calls Rehome when it sees a node leave <nodes>, so that a later
// bridge still finds them (a node removed while no bridge runs takes its
// entries with it). Entries with nothing owed are moved too: their done
// marks keep a fact derived again from being sent again. Writes to one
// node are grouped, so the moves take a few cibadmin calls.
func (s *Store) Rehome(ctx context.Context) (int, error) {
	if err := s.load(ctx); err != nil {
		return 0, err
	}
	if err := s.refreshNodes(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	local, ok := s.nodes[s.o.LocalNode]
	var gone []string
	for name, e := range s.entries {
		if n, still := s.nodes[e.at.Node]; !still || n.ID != e.at.NodeID {
			gone = append(gone, name)
		}
	}
	s.mu.Unlock()
	if len(gone) == 0 {
		return 0, nil
	}
	if !ok {
		return 0, fmt.Errorf("rehome %d events: the local node %q is not in the CIB's nodes section", len(gone), s.o.LocalNode)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(gone))
	for i, name := range gone {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.locks.lock(name)()
			s.mu.Lock()
			cur, exists := s.entries[name]
			s.mu.Unlock()
			if !exists || cur.at.Node == local.Uname {
				return // pruned, or moved by a write, meanwhile
			}
			next := entry{at: newPlace(local, name), rec: cur.rec.clone()}
			if err := s.write(ctx, name, &next); err != nil {
				errs[i] = fmt.Errorf("rehome %.100q from %s: %w", cur.rec.Event.ID, cur.at.Node, err)
			}
		}()
	}
	wg.Wait()
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// Len returns how many events the store holds, delivered ones included.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// placeFor chooses where a new event's attribute goes: on the event's
// node if it is a node of <nodes>, else on the local node.
func (s *Store) placeFor(ctx context.Context, e delivery.Event, name string) (place, error) {
	for range 2 {
		s.mu.Lock()
		n, ok := s.nodes[e.Data.Node]
		if !ok || e.Data.Node == "" {
			n, ok = s.nodes[s.o.LocalNode]
		}
		s.mu.Unlock()
		if ok {
			return newPlace(n, name), nil
		}
		// A node that joined after the store read <nodes>.
		if err := s.refreshNodes(ctx); err != nil {
			return place{}, err
		}
	}
	return place{}, fmt.Errorf("the local node %q is not in the CIB's nodes section", s.o.LocalNode)
}

// write stores e under name and, once the CIB accepted it, in the
// mirror. The caller holds name's lock. If e's node has left <nodes>
// (crm_node --remove took the attribute with it), e is written again on
// the local node, so that what it records, done sinks included, is kept.
func (s *Store) write(ctx context.Context, name string, e *entry) error {
	v, err := encodeRecord(e.rec)
	if err != nil {
		return err
	}
	// Decode what is written, so that the mirror holds what a new bridge
	// will read (a trimmed Reason, times in their JSON form).
	rec, err := decodeRecord(name, v)
	if err != nil {
		return fmt.Errorf("read back %s: %w", name, err)
	}
	commit := func(at place) func() {
		return func() {
			s.mu.Lock()
			s.entries[name] = &entry{at: at, rec: rec}
			s.mu.Unlock()
		}
	}
	err = s.modify(ctx, pairWrite{At: e.at, Name: name, Value: v}, commit(e.at))
	if crmwrap.IsNotFound(err) {
		if rerr := s.refreshNodes(ctx); rerr != nil {
			return errors.Join(err, rerr)
		}
		s.mu.Lock()
		n, still := s.nodes[e.at.Node]
		local, ok := s.nodes[s.o.LocalNode]
		s.mu.Unlock()
		if still && n.ID == e.at.NodeID || !ok {
			return err
		}
		s.o.Log.WithFields(logrus.Fields{"attribute": name, "node": e.at.Node}).
			Warn("cibstore: the event's node left the CIB; keeping the event on the local node")
		at := newPlace(local, name)
		err = s.modify(ctx, pairWrite{At: at, Name: name, Value: v}, commit(at))
	}
	return err
}

// cib runs one cibadmin call, bounded by Timeout and by maxWriters.
func (s *Store) cib(ctx context.Context, f func(context.Context) error) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait to run cibadmin: %w", context.Cause(ctx))
	}
	defer func() { <-s.sem }()
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	return f(ctx)
}

// load reads <nodes> into the mirror, once.
func (s *Store) load(ctx context.Context) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.mu.Lock()
	done := s.loaded
	s.mu.Unlock()
	if done {
		return nil
	}
	nodes, err := s.queryNodes(ctx)
	if err != nil {
		return err
	}
	entries := map[string]*entry{}
	foreign := map[string]place{}
	for _, n := range nodes {
		for _, p := range n.Pairs {
			at := place{Node: n.Uname, NodeID: n.ID, SetID: p.SetID, PairID: p.ID}
			log := s.o.Log.WithFields(logrus.Fields{"attribute": p.Name, "node": n.Uname, "nvpair": p.ID})
			if _, dup := entries[p.Name]; dup {
				log.Warn("cibstore: a second copy of an event's attribute; using the first, leaving this one alone")
				continue
			}
			rec, err := decodeRecord(p.Name, p.Value)
			if err != nil {
				foreign[p.Name] = at
				// The value is not logged: an operator's text is
				// unbounded and may hold anything.
				log.WithError(err).Warn("cibstore: attribute is not a delivery record the bridge wrote; leaving it alone")
				continue
			}
			entries[p.Name] = &entry{at: at, rec: rec}
		}
	}
	s.mu.Lock()
	s.nodes = nodeMap(nodes)
	s.entries = entries
	s.foreign = foreign
	s.loaded = true
	s.mu.Unlock()
	return nil
}

// refreshNodes reads <nodes> again for the node list only: the entries
// in memory stay the truth, every write having gone through this store.
func (s *Store) refreshNodes(ctx context.Context) error {
	nodes, err := s.queryNodes(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.nodes = nodeMap(nodes)
	s.mu.Unlock()
	return nil
}

func (s *Store) queryNodes(ctx context.Context) ([]cibNode, error) {
	var out []byte
	err := s.cib(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.o.Client.Query(ctx, crmwrap.ScopeNodes)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load the delivery store: %w", err)
	}
	nodes, err := parseNodes(out)
	if err != nil {
		return nil, fmt.Errorf("load the delivery store: %w", err)
	}
	return nodes, nil
}

func nodeMap(nodes []cibNode) map[string]cibNode {
	m := make(map[string]cibNode, len(nodes))
	for _, n := range nodes {
		if _, ok := m[n.Uname]; !ok {
			m[n.Uname] = n
		}
	}
	return m
}

// keyedMutex is a mutex per key, dropped when nobody holds or waits for
// it.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
