package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/problem"
)

// maxEventLine bounds one line of the event stream: a data line holds a
// value in base64 (4/3 of it, and the store refuses values over 64 MiB
// whatever max_value says) with its key and revision.
const maxEventLine = (64<<20)*4/3 + 4096

// Watcher yields the entries of a watch, in revision order. It implements
// checkpoint.Watcher. When its stream breaks (the replica restarted, a
// failover, a 503) it connects again, with backoff and the Client's
// bound, from the last revision it delivered: no entry is skipped or
// repeated. It ends with *checkpoint.CompactedError when the replica no
// longer keeps the entries it needs (list again, then watch from the
// list's revision: Mirror does that), or with the error of its last
// attempt to connect.
type Watcher struct {
	c      *Client
	prefix string
	ctx    context.Context
	cancel context.CancelFunc
	ch     chan batch
	done   chan struct{}
	once   sync.Once
}

type batch struct {
	entries []checkpoint.Entry
	err     error
}

// Watch watches the entries after revision from whose keys start with
// prefix, until ctx ends or Close.
func (c *Client) Watch(ctx context.Context, from uint64, prefix string) (*Watcher, error) {
	if err := checkpoint.ValidPrefix(prefix); err != nil {
		return nil, fmt.Errorf("watch %q: %w", prefix, &checkpoint.InvalidError{Reason: err.Error()})
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &Watcher{c: c, prefix: prefix, ctx: wctx, cancel: cancel, ch: make(chan batch), done: make(chan struct{})}
	resp, err := w.connect(from)
	if err != nil {
		cancel()
		return nil, err
	}
	go w.run(resp, from)
	return w, nil
}

func (w *Watcher) connect(from uint64) (*http.Response, error) {
	q := url.Values{"from": {strconv.FormatUint(from, 10)}}
	if w.prefix != "" {
		q.Set("prefix", w.prefix)
	}
	resp, err := w.c.do(w.ctx, call{method: http.MethodGet, path: "/v1/watch?" + q.Encode(),
		header: http.Header{"Accept": {"text/event-stream"}}})
	if err != nil {
		return nil, fmt.Errorf("watch %q from %d: %w", w.prefix, from, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("watch %q from %d: %w", w.prefix, from, answerErr(resp))
	}
	return resp, nil
}

// errStreamEnded is a stream that broke or ended: connect again.
var errStreamEnded = errors.New("the event stream ended")

func (w *Watcher) run(resp *http.Response, last uint64) {
	defer close(w.done)
	// fruitless counts the streams in a row that ended without
	// delivering anything: a replica that answers each watch with an
	// error event (closing, demoted) is not hammered, and is given up on
	// after the Client's bound, like any other call.
	fruitless := 0
	for {
		before := last
		var err error
		last, err = w.read(resp, last)
		resp.Body.Close()
		if !errors.Is(err, errStreamEnded) {
			w.send(batch{err: err})
			return
		}
		if last > before {
			fruitless = 0
		} else if fruitless++; fruitless >= w.c.maxAttempts() {
			w.send(batch{err: fmt.Errorf("watch %q from %d: %d streams in a row ended with nothing: %w", w.prefix, last, fruitless, ErrRetriesExhausted)})
			return
		}
		t := time.NewTimer(w.c.backoff(fruitless))
		select {
		case <-w.ctx.Done():
			t.Stop()
			w.send(batch{err: w.ctx.Err()})
			return
		case <-t.C:
		}
		if resp, err = w.connect(last); err != nil {
			w.send(batch{err: err})
			return
		}
	}
}

// read delivers one stream's events; it returns the last revision
// delivered and why the stream ended (errStreamEnded: connect again).
func (w *Watcher) read(resp *http.Response, last uint64) (uint64, error) {
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var pending []checkpoint.Entry
	for {
		ev, err := readEvent(br, maxEventLine)
		if err != nil {
			if w.ctx.Err() != nil {
				return last, w.ctx.Err()
			}
			return last, errStreamEnded
		}
		switch ev.name {
		case "put", "delete":
			var e struct {
				Revision uint64 `json:"revision"`
				Key      string `json:"key"`
				Value    []byte `json:"value"`
			}
			if err := json.Unmarshal(ev.data, &e); err != nil || e.Revision <= last {
				// A corrupt event or one out of order: the stream cannot be
				// trusted; start again from what was delivered.
				return last, errStreamEnded
			}
			op := checkpoint.OpPut
			if ev.name == "delete" {
				op = checkpoint.OpDelete
			}
			pending = append(pending, checkpoint.Entry{Rev: e.Revision, Op: op, Key: e.Key, Value: e.Value})
		case "error":
			var p problem.Problem
			if err := json.Unmarshal(ev.data, &p); err != nil {
				return last, errStreamEnded
			}
			perr := p.Err()
			var comp *checkpoint.CompactedError
			if errors.As(perr, &comp) {
				return last, fmt.Errorf("watch %q: %w", w.prefix, perr)
			}
			return last, errStreamEnded // closed, demoted...: connect again
		}
		// Deliver what has arrived as one batch once nothing more is
		// buffered.
		if len(pending) > 0 && br.Buffered() == 0 {
			if !w.send(batch{entries: pending}) {
				return last, w.ctx.Err()
			}
			last = pending[len(pending)-1].Rev
			pending = nil
		}
	}
}

func (w *Watcher) send(b batch) bool {
	select {
	case w.ch <- b:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// Next blocks until entries arrive, ctx ends, or the watch ends.
func (w *Watcher) Next(ctx context.Context) ([]checkpoint.Entry, error) {
	select {
	case b := <-w.ch:
		return b.entries, b.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-w.done:
		// run ended after a send that nobody took (Close).
		if err := w.ctx.Err(); err != nil {
			return nil, err
		}
		return nil, checkpoint.ErrClosed
	}
}

// Close ends the watch.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		w.cancel()
		<-w.done
	})
	return nil
}

var _ checkpoint.Watcher = (*Watcher)(nil)

// Update is what Mirror hands its function: the whole state (Reset, at
// the start and after the watch fell behind the replica's log), or the
// entries since the last update. Revision is the state's revision.
type Update struct {
	Reset    bool
	Items    []checkpoint.Item
	Entries  []checkpoint.Entry
	Revision uint64
}

// Mirror keeps fn told of the state under prefix: a standby VNFC stays
// warm with it (docs/checkpoint.md). It lists the items, calls fn with
// them (Reset), then watches from the list's revision and calls fn with
// every batch of changes, listing again when the watch falls behind.
// Entries the list had already shown are not repeated. It returns when
// ctx ends, fn fails, or the store cannot be reached within the Client's
// retry bound.
func (c *Client) Mirror(ctx context.Context, prefix string, fn func(Update) error) error {
	for {
		items, rev, err := c.ListAll(ctx, prefix)
		if err != nil {
			return err
		}
		// The pages may have been read at later revisions than rev: the
		// watch replays what changed since, and known skips the entries
		// a page already showed.
		known := make(map[string]uint64, len(items))
		for _, it := range items {
			known[it.Key] = it.Rev
		}
		if err := fn(Update{Reset: true, Items: items, Revision: rev}); err != nil {
			return err
		}
		err = c.mirrorWatch(ctx, prefix, rev, known, fn)
		var comp *checkpoint.CompactedError
		if !errors.As(err, &comp) {
			return err
		}
	}
}

func (c *Client) mirrorWatch(ctx context.Context, prefix string, rev uint64, known map[string]uint64, fn func(Update) error) error {
	w, err := c.Watch(ctx, rev, prefix)
	if err != nil {
		return err
	}
	defer w.Close()
	for {
		entries, err := w.Next(ctx)
		if err != nil {
			return err
		}
		fresh := entries[:0:0]
		for _, e := range entries {
			if known[e.Key] >= e.Rev {
				continue
			}
			known[e.Key] = e.Rev
			fresh = append(fresh, e)
		}
		if len(entries) > 0 {
			rev = entries[len(entries)-1].Rev
		}
		if len(fresh) == 0 {
			continue
		}
		if err := fn(Update{Entries: fresh, Revision: rev}); err != nil {
			return err
		}
	}
}
