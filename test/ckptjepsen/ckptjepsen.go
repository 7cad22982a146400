// Package ckptjepsen is a Jepsen-style check of a replicated checkpoint
// store run by Pacemaker: a client writes sequential checkpoints through
// the store's VIP and records every write the store acknowledged, while
// the primary's node loses power or the primary's process is killed at a
// random moment; after each failover everything is read back on the new
// primary, and every acknowledged write must be there with its value, and
// revisions must never go backwards.
//
// The store under test is a Store (the client side: Put, ReadAll) and a
// Cluster (where its primary runs, how to fail it and bring it back), so
// that one harness drives Redis (redis.go: ocf:heartbeat:redis, SET then
// WAIT 1) and vnfha's checkpoint store alike.
//
// Each write has a key of its own ("<trial>/<seq>"), not one key
// overwritten: a lost write in the middle of a run stays visible, where
// a later write to the same key would hide it.
package ckptjepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Item is one key as ReadAll found it.
type Item struct {
	Key   string
	Value []byte
	// Revision is the revision of the item's last write; 0 for a store
	// without revisions.
	Revision int64
}

// Store is the store under test as one client sees it through the VIP.
// The harness calls it from one goroutine at a time.
type Store interface {
	// Put writes value under key. It returns nil only when the store
	// acknowledged the write as its promise says (vnfha: durable on the
	// primary and the sync standbys; Redis: SET answered and WAIT
	// counted a replica). rev is the write's revision, 0 for a store
	// without revisions. Any error means not acknowledged: the write may
	// or may not have happened.
	Put(ctx context.Context, key string, value []byte) (rev int64, err error)
	// ReadAll reads every key on the current primary (it fails on a
	// replica that is not the primary), and the store's revision at that
	// read (0 for a store without revisions).
	ReadAll(ctx context.Context) (items []Item, rev int64, err error)
	// Close releases the client's connections.
	Close() error
}

// Fault is a way the primary fails.
type Fault string

// The faults.
const (
	// PowerLoss takes the primary's node away at once (lab power loss:
	// its link and every process go; the cluster fences it).
	PowerLoss Fault = "power loss"
	// ProcessKill kills the primary's store process with SIGKILL.
	ProcessKill Fault = "process kill"
)

// Cluster runs the store's replicas and fails them.
type Cluster interface {
	// Settle waits until the store runs as it should (a primary with the
	// VIP, its standbys caught up, nothing pending in the cluster) and
	// returns the primary's node.
	Settle(ctx context.Context) (primary string, err error)
	// Inject makes node fail as f says, and returns once it did.
	Inject(ctx context.Context, node string, f Fault) error
	// Restore undoes an Inject (powers the node on, clears the failure
	// Pacemaker recorded) without waiting for the store: Settle does.
	Restore(ctx context.Context, node string, f Fault) error
	// Primary is the node the cluster runs the store's primary on now
	// ("" if none), without waiting.
	Primary(ctx context.Context) (string, error)
}

// Config says what to run.
type Config struct {
	Store   Store
	Cluster Cluster
	// Trials is how many failovers to cause.
	Trials int
	// Faults are used in turn, trial after trial. Default: PowerLoss,
	// ProcessKill.
	Faults []Fault
	// Seed makes the random moments reproducible; 0 draws one (logged).
	Seed uint64
	// MinRun and MaxRun bound the random time the client writes before
	// the fault. Default 200 ms and 2 s.
	MinRun, MaxRun time.Duration
	// After is how long the client goes on writing once writes succeed
	// again on the new primary, before the read. Default 300 ms.
	After time.Duration
	// FailoverTimeout bounds the wait for the first acknowledged write
	// after the fault. Default 90 s.
	FailoverTimeout time.Duration
	// PutTimeout bounds each Put. Default 3 s.
	PutTimeout time.Duration
	// ValueSize is the size of each value (at least what the sequence
	// number takes). Default 64.
	ValueSize int
	// Hurry injects each fault after the first as soon as the cluster
	// has a primary again with every node a member (Hurrier.Quorate),
	// without waiting for the store on the node failed last to catch
	// up: a standby that was down while writes were acknowledged may be
	// behind when the primary fails, and must not be promoted then.
	// Reads after each trial go to the primary as it is; a last read,
	// once the cluster has settled, checks everything again.
	Hurry bool
	// KeyPrefix comes before every key: a second Run on the same store
	// writes keys of its own, not the first one's again.
	KeyPrefix string
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)
}

// Hurrier is a Cluster that can tell when it has a primary again without
// waiting for every replica to catch up (Config.Hurry).
type Hurrier interface {
	// Quorate waits until every node is a member of the cluster again
	// and a primary serves (with the VIP), and returns its node.
	Quorate(ctx context.Context) (primary string, err error)
}

func (c Config) withDefaults() (Config, error) {
	if c.Store == nil || c.Cluster == nil {
		return c, errors.New("ckptjepsen: Store and Cluster are required")
	}
	if _, ok := c.Cluster.(Hurrier); c.Hurry && !ok {
		return c, fmt.Errorf("ckptjepsen: Hurry needs a Cluster that is a Hurrier; %T is not", c.Cluster)
	}
	if c.Trials < 1 {
		return c, fmt.Errorf("ckptjepsen: %d trials: want at least 1", c.Trials)
	}
	if len(c.Faults) == 0 {
		c.Faults = []Fault{PowerLoss, ProcessKill}
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MinRun, 200*time.Millisecond)
	def(&c.MaxRun, 2*time.Second)
	def(&c.After, 300*time.Millisecond)
	def(&c.FailoverTimeout, 90*time.Second)
	def(&c.PutTimeout, 3*time.Second)
	if c.MaxRun < c.MinRun {
		c.MaxRun = c.MinRun
	}
	if c.ValueSize <= 0 {
		c.ValueSize = 64
	}
	if c.Log == nil {
		c.Log = func(string, ...any) {}
	}
	return c, nil
}

// Write is one write the store acknowledged.
type Write struct {
	Trial int
	Seq   int
	Key   string
	Value []byte
	Rev   int64
	// At is when the acknowledgement arrived.
	At time.Time
}

// Loss is an acknowledged write missing after a failover, or read back
// with another value.
type Loss struct {
	Write
	// Found is the value read back; nil when the key is missing.
	Found []byte
	// Since is the acknowledgement's time relative to the fault of its
	// trial (negative: acknowledged before the fault).
	Since time.Duration
}

// TrialResult is what one failover showed.
type TrialResult struct {
	N             int
	Fault         Fault
	Victim        string // the primary's node that was failed
	NewPrimary    string // where the cluster ran the primary at the read
	Run           time.Duration
	Acked, Failed int // writes of this trial acknowledged, and not
	LastAckBefore time.Duration
	FirstAckAfter time.Duration // fault → first acknowledged write after it
	// Stalled: hurried, no write was acknowledged within FailoverTimeout
	// until the victim was restored and the failures cleared (what an
	// operator would do); FirstAckAfter includes that wait.
	Stalled        bool
	Lost           []Loss   // acknowledged writes (of any trial so far) missing or wrong, first seen in this trial
	Backwards      []string // revisions going backwards, as sentences
	StoreRev       int64    // the store's revision at the read
	Keys           int      // keys read back
	Errs           map[string]int
	FirstErrsAfter []string // the first errors after the fault, to tell what the client saw
	LastErr        string   // the last error of the trial, whole (the tally cuts them)
}

// Result is what the run showed.
type Result struct {
	Seed   uint64
	Trials []TrialResult
}

// Acked is the number of acknowledged writes of the run.
func (r *Result) Acked() int {
	n := 0
	for _, t := range r.Trials {
		n += t.Acked
	}
	return n
}

// Lost is every lost acknowledged write of the run.
func (r *Result) Lost() []Loss {
	var out []Loss
	for _, t := range r.Trials {
		out = append(out, t.Lost...)
	}
	return out
}

// Backwards is every revision that went backwards.
func (r *Result) Backwards() []string {
	var out []string
	for _, t := range r.Trials {
		out = append(out, t.Backwards...)
	}
	return out
}

// Failovers are the trials' fault → first acknowledged write times.
func (r *Result) Failovers(f Fault) []time.Duration {
	var out []time.Duration
	for _, t := range r.Trials {
		if t.Fault == f && t.FirstAckAfter > 0 {
			out = append(out, t.FirstAckAfter)
		}
	}
	return out
}

// Key is the key of write seq of trial n.
func Key(trial, seq int) string { return fmt.Sprintf("t%03d/%07d", trial, seq) }

// Value is the value of write seq of trial n: its key and sequence
// number, padded to size.
func Value(trial, seq, size int) []byte {
	v := []byte(fmt.Sprintf("trial=%d seq=%d ", trial, seq))
	for len(v) < size {
		v = append(v, byte('a'+len(v)%26))
	}
	return v
}

// Run runs cfg.Trials failovers and checks each. It returns an error when
// the run could not go on (the cluster did not settle, no write succeeded
// within FailoverTimeout); lost writes are in the Result, not errors.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	res := &Result{Seed: cfg.Seed}
	cfg.Log("ckptjepsen: %d trials, seed %d", cfg.Trials, cfg.Seed)
	h := &history{}
	for n := 1; n <= cfg.Trials; n++ {
		f := cfg.Faults[(n-1)%len(cfg.Faults)]
		run := cfg.MinRun + time.Duration(rng.Int64N(int64(cfg.MaxRun-cfg.MinRun)+1))
		tr, err := trial(ctx, cfg, h, n, f, run)
		res.Trials = append(res.Trials, tr)
		if err != nil {
			return res, fmt.Errorf("trial %d (%s): %w", n, f, err)
		}
		cfg.Log("trial %d: %s of %s after %s: %d acked, %d not; first ack on %s %s after; %d lost, %d backwards; %d keys, rev %d",
			n, f, tr.Victim, tr.Run.Round(time.Millisecond), tr.Acked, tr.Failed, tr.NewPrimary,
			tr.FirstAckAfter.Round(time.Millisecond), len(tr.Lost), len(tr.Backwards), tr.Keys, tr.StoreRev)
	}
	if cfg.Hurry {
		// The reads after hurried trials met a cluster still recovering;
		// the last one meets it settled.
		last := &res.Trials[len(res.Trials)-1]
		primary, err := cfg.Cluster.Settle(ctx)
		if err != nil {
			return res, fmt.Errorf("settle at the end: %w", err)
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		items, rev, err := readAll(rctx, cfg.Store)
		cancel()
		if err != nil {
			return res, fmt.Errorf("last read on %s: %w", primary, err)
		}
		if rev != 0 && rev < h.maxRev {
			last.Backwards = append(last.Backwards, fmt.Sprintf("the store is at revision %d at the end, after a write acknowledged at %d", rev, h.maxRev))
		}
		var lost []Loss
		lost, last.Backwards = h.check(items, last.Backwards, time.Time{}, 0)
		last.Lost = append(last.Lost, lost...)
		cfg.Log("settled on %s at the end: %d keys, rev %d, %d more lost", primary, len(items), rev, len(lost))
	}
	return res, nil
}

// before returns the primary a trial fails: once the cluster is settled,
// or, hurried, as soon as it has one.
func before(ctx context.Context, cfg Config, n int) (string, error) {
	if cfg.Hurry && n > 1 {
		return cfg.Cluster.(Hurrier).Quorate(ctx)
	}
	return cfg.Cluster.Settle(ctx)
}

// history holds every acknowledged write of the run, checked anew after
// each failover: a write lost later (say, by a resync) is found then.
type history struct {
	acked  []Write
	lost   map[string]bool // keys already reported lost
	maxRev int64
}

func trial(ctx context.Context, cfg Config, h *history, n int, f Fault, run time.Duration) (TrialResult, error) {
	tr := TrialResult{N: n, Fault: f, Run: run, Errs: map[string]int{}}
	victim, err := before(ctx, cfg, n)
	if err != nil {
		return tr, fmt.Errorf("before: %w", err)
	}
	tr.Victim = victim

	w := &writer{cfg: cfg, trial: n, firstAfter: make(chan struct{})}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.loop(wctx) }()
	defer func() { stop(); wg.Wait() }()

	select {
	case <-time.After(run):
	case <-ctx.Done():
		return tr, ctx.Err()
	}
	faultAt := time.Now()
	w.setFault(faultAt)
	if err := cfg.Cluster.Inject(ctx, victim, f); err != nil {
		return tr, fmt.Errorf("inject: %w", err)
	}
	w.setInjected(time.Now())
	// The first acknowledgement of a write sent after the fault, bounded.
	deadline := time.NewTimer(cfg.FailoverTimeout)
	defer deadline.Stop()
	restored := false
	for waiting := true; waiting; {
		select {
		case <-w.firstAfter:
			waiting = false
		case <-deadline.C:
			if cfg.Hurry && !restored {
				// A cluster failed twice in a row may wait for its
				// operator: do what one would (power the node on, clear
				// the failures), count the trial as stalled, and wait
				// once more.
				tr.Stalled = true
				cfg.Log("trial %d: no write acknowledged within %s of the %s of %s: restoring it and clearing failures", n, cfg.FailoverTimeout, f, victim)
				if err := restore(ctx, cfg, victim, f); err != nil {
					return tr, err
				}
				restored = true
				deadline.Reset(cfg.FailoverTimeout)
				continue
			}
			stop()
			wg.Wait()
			w.fill(&tr, faultAt)
			return tr, fmt.Errorf("no write acknowledged within %s of the %s of %s (errors: %v; first after: %v; last: %s)",
				cfg.FailoverTimeout, f, victim, tr.Errs, tr.FirstErrsAfter, tr.LastErr)
		case <-ctx.Done():
			return tr, ctx.Err()
		}
	}
	firstAck := w.firstAckAt()
	tr.FirstAckAfter = firstAck.Sub(faultAt)
	time.Sleep(cfg.After)
	stop()
	wg.Wait()
	w.fill(&tr, faultAt)

	// Revisions of one sequential client go up, whatever the failover.
	for _, wr := range w.acked {
		if wr.Rev == 0 {
			continue
		}
		if wr.Rev <= h.maxRev {
			tr.Backwards = append(tr.Backwards, fmt.Sprintf("%s acknowledged at revision %d after a write at %d", wr.Key, wr.Rev, h.maxRev))
		}
		h.maxRev = max(h.maxRev, wr.Rev)
	}
	h.acked = append(h.acked, w.acked...)

	if !restored {
		if err := restore(ctx, cfg, victim, f); err != nil {
			return tr, err
		}
	}
	// Read on the primary, through the VIP, once the cluster is settled
	// again (the restored node must not have taken anything away), or,
	// hurried, as soon as it has one.
	primary, err := before(ctx, cfg, n+1)
	if err != nil {
		return tr, fmt.Errorf("after: %w", err)
	}
	tr.NewPrimary = primary
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	items, rev, err := readAll(rctx, cfg.Store)
	cancel()
	if err != nil {
		return tr, fmt.Errorf("read all on %s: %w", primary, err)
	}
	tr.Keys, tr.StoreRev = len(items), rev
	if rev != 0 && rev < h.maxRev {
		tr.Backwards = append(tr.Backwards, fmt.Sprintf("the store is at revision %d after a write acknowledged at %d", rev, h.maxRev))
	}
	tr.Lost, tr.Backwards = h.check(items, tr.Backwards, faultAt, n)
	return tr, nil
}

// restore brings the failed node back, retrying a few times: a node that
// is still being fenced may refuse at first.
func restore(ctx context.Context, cfg Config, victim string, f Fault) error {
	var err error
	for i := 0; i < 5; i++ {
		if err = cfg.Cluster.Restore(ctx, victim, f); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("restore %s: %w", victim, err)
}

// readAll reads, retrying for a while: the first read after a settle may
// meet a VIP that has just moved.
func readAll(ctx context.Context, s Store) ([]Item, int64, error) {
	var err error
	for i := 0; i < 20; i++ {
		var items []Item
		var rev int64
		if items, rev, err = s.ReadAll(ctx); err == nil {
			return items, rev, nil
		}
		select {
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil, 0, err
}

// check compares what was read with every acknowledged write so far, and
// returns the losses not reported before.
func (h *history) check(items []Item, backwards []string, faultAt time.Time, n int) ([]Loss, []string) {
	byKey := make(map[string]Item, len(items))
	for _, it := range items {
		byKey[it.Key] = it
	}
	if h.lost == nil {
		h.lost = map[string]bool{}
	}
	var lost []Loss
	for _, wr := range h.acked {
		it, ok := byKey[wr.Key]
		switch {
		case ok && string(it.Value) == string(wr.Value):
			if it.Revision != 0 && wr.Rev != 0 && it.Revision != wr.Rev {
				backwards = append(backwards, fmt.Sprintf("%s read at revision %d, acknowledged at %d", wr.Key, it.Revision, wr.Rev))
			}
			continue
		case h.lost[wr.Key]:
			continue
		}
		h.lost[wr.Key] = true
		l := Loss{Write: wr}
		if ok {
			l.Found = slices.Clone(it.Value)
		}
		if wr.Trial == n {
			l.Since = wr.At.Sub(faultAt)
		}
		lost = append(lost, l)
	}
	return lost, backwards
}

// writer is the client: one write after another, each to a key of its
// own, as fast as the store acknowledges them.
type writer struct {
	cfg        Config
	trial      int
	firstAfter chan struct{} // closed at the first ack of a write sent after the fault

	mu        sync.Mutex
	faultAt   time.Time // when the fault was injected (zero before)
	injected  time.Time // when Inject returned (zero before)
	firstAck  time.Time
	acked     []Write
	failed    int
	errs      map[string]int
	errsAfter []string
	lastErr   string
}

func (w *writer) setFault(at time.Time) {
	w.mu.Lock()
	w.faultAt = at
	w.mu.Unlock()
}

func (w *writer) setInjected(at time.Time) {
	w.mu.Lock()
	w.injected = at
	w.mu.Unlock()
}

func (w *writer) firstAckAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstAck
}

func (w *writer) loop(ctx context.Context) {
	w.mu.Lock()
	w.errs = map[string]int{}
	w.mu.Unlock()
	for seq := 1; ctx.Err() == nil; seq++ {
		key, val := w.cfg.KeyPrefix+Key(w.trial, seq), Value(w.trial, seq, w.cfg.ValueSize)
		sent := time.Now()
		pctx, cancel := context.WithTimeout(ctx, w.cfg.PutTimeout)
		rev, err := w.cfg.Store.Put(pctx, key, val)
		cancel()
		at := time.Now()
		w.mu.Lock()
		switch {
		case err == nil:
			w.acked = append(w.acked, Write{Trial: w.trial, Seq: seq, Key: key, Value: val, Rev: rev, At: at})
			// A write sent before the fault was injected may have been
			// answered by the old primary: it does not end the failover.
			if w.firstAck.IsZero() && !w.injected.IsZero() && sent.After(w.injected) {
				w.firstAck = at
				close(w.firstAfter)
			}
		case ctx.Err() == nil:
			w.failed++
			w.errs[errClass(err)]++
			w.lastErr = fmt.Sprintf("+%s %v", at.Sub(w.faultAt).Round(time.Millisecond), err)
			if !w.faultAt.IsZero() && len(w.errsAfter) < 5 {
				w.errsAfter = append(w.errsAfter, fmt.Sprintf("+%s %v", at.Sub(w.faultAt).Round(time.Millisecond), err))
			}
		}
		w.mu.Unlock()
		if err == nil {
			continue
		}
		// A failing store is tried again soon, not in a tight loop.
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// fill copies what the writer saw into tr; the writer has stopped.
func (w *writer) fill(tr *TrialResult, faultAt time.Time) {
	tr.Acked, tr.Failed = len(w.acked), w.failed
	maps(tr.Errs, w.errs)
	tr.FirstErrsAfter = w.errsAfter
	tr.LastErr = w.lastErr
	for i := len(w.acked) - 1; i >= 0; i-- {
		if w.acked[i].At.Before(faultAt) {
			tr.LastAckBefore = faultAt.Sub(w.acked[i].At)
			break
		}
	}
}

func maps(dst, src map[string]int) {
	for k, v := range src {
		dst[k] += v
	}
}

// errClass shortens an error to its kind, for the tally: each run of
// digits (addresses, ports, counts) becomes one '#', at most 80 bytes.
func errClass(err error) string {
	var b strings.Builder
	digits := false
	for _, r := range err.Error() {
		if b.Len() >= 80 {
			break
		}
		if r >= '0' && r <= '9' {
			if !digits {
				b.WriteByte('#')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(r)
	}
	return b.String()
}

// Summary is a few lines for a test's log: the counts, then each loss.
func (r *Result) Summary() string {
	var b strings.Builder
	stalled := 0
	for _, t := range r.Trials {
		if t.Stalled {
			stalled++
		}
	}
	fmt.Fprintf(&b, "%d trials (seed %d): %d writes acknowledged, %d lost, %d revisions backwards, %d stalled until restored\n",
		len(r.Trials), r.Seed, r.Acked(), len(r.Lost()), len(r.Backwards()), stalled)
	for _, t := range r.Trials {
		stall := ""
		if t.Stalled {
			stall = " (stalled until restored)"
		}
		fmt.Fprintf(&b, "  trial %d: %-12s of %s after %5s: acked %4d, not %3d; first ack %6s after%s (primary then %s); lost %d; errors %v\n",
			t.N, t.Fault, t.Victim, t.Run.Round(time.Millisecond), t.Acked, t.Failed,
			t.FirstAckAfter.Round(time.Millisecond), stall, t.NewPrimary, len(t.Lost), t.Errs)
		for _, l := range t.Lost {
			found := "missing"
			if l.Found != nil {
				found = strconv.Quote(string(l.Found))
			}
			fmt.Fprintf(&b, "    lost %s (rev %d, acknowledged %s from the fault): %s\n", l.Key, l.Rev, l.Since.Round(time.Millisecond), found)
		}
		for _, s := range t.Backwards {
			fmt.Fprintf(&b, "    backwards: %s\n", s)
		}
	}
	return b.String()
}
