package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/problem"
)

// Event is one entry of a watch, as the SSE data line and the long poll's
// entries carry it. Value is base64 in JSON.
type Event struct {
	Revision uint64 `json:"revision"`
	Op       string `json:"op"`
	Key      string `json:"key"`
	Value    []byte `json:"value,omitempty"`
}

// PollAnswer is a long poll's answer: the entries after the request's
// revision (none when the wait ran out) and the revision to poll from next.
type PollAnswer struct {
	Entries  []Event `json:"entries"`
	Revision uint64  `json:"revision"`
}

// events keeps the entries a client is told about: puts and deletes. An
// epoch entry is the replicas' business.
func events(entries []checkpoint.Entry) []Event {
	out := make([]Event, 0, len(entries))
	for _, e := range entries {
		if e.Op != checkpoint.OpPut && e.Op != checkpoint.OpDelete {
			continue
		}
		out = append(out, Event{Revision: e.Rev, Op: e.Op.String(), Key: e.Key, Value: e.Value})
	}
	return out
}

func acceptsSSE(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/event-stream") {
			return true
		}
	}
	return false
}

// watchStart reads where a watch starts: Last-Event-ID (an SSE client's
// resume) over ?from=, and the replica's position when neither is given
// (from now on).
func (h *Handler) watchStart(r *http.Request, q watchQuery) (uint64, error) {
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		rev, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("Last-Event-ID %q: want a revision", clip(v))
		}
		return rev, nil
	}
	if q.hasFrom {
		return q.from, nil
	}
	return h.r.Status().Position.Rev, nil
}

func (h *Handler) watch(w http.ResponseWriter, r *http.Request) {
	q, err := parseWatchQuery(r.URL.RawQuery, h.o.MaxWait)
	if err != nil {
		h.invalid(w, r, err)
		return
	}
	from, err := h.watchStart(r, q)
	if err != nil {
		h.invalid(w, r, err)
		return
	}
	select {
	case h.watches <- struct{}{}:
		defer func() { <-h.watches }()
	default:
		h.fail(w, r, &checkpoint.UnavailableError{Reason: fmt.Sprintf("%d watches are open, the most this server serves", cap(h.watches))})
		return
	}
	wt, err := h.r.Watch(r.Context(), from, q.prefix)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer wt.Close()
	rc := http.NewResponseController(w)
	// A watch outlives the server's read timeout, which would otherwise
	// end the request's context (Go's server reads the idle connection in
	// the background to see the client leave): no read deadline, the
	// client's leaving is seen by that same background read.
	rc.SetReadDeadline(time.Time{})
	if q.wait > 0 && !acceptsSSE(r) {
		h.poll(w, r, rc, wt, from, q.wait)
		return
	}
	h.stream(w, r, rc, wt, from)
}

func (h *Handler) poll(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, wt checkpoint.Watcher, from uint64, wait time.Duration) {
	rc.SetWriteDeadline(time.Now().Add(wait + 30*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	entries, err := wt.Next(ctx)
	switch {
	case err == nil:
	case r.Context().Err() != nil:
		return // the client went away
	case errors.Is(err, context.DeadlineExceeded):
		h.json(w, http.StatusOK, PollAnswer{Entries: []Event{}, Revision: from})
		return
	default:
		h.fail(w, r, err)
		return
	}
	next := from
	for _, e := range entries {
		next = max(next, e.Rev)
	}
	w.Header().Set(HeaderRevision, strconv.FormatUint(next, 10))
	h.json(w, http.StatusOK, PollAnswer{Entries: events(entries), Revision: next})
}

type nextResult struct {
	entries []checkpoint.Entry
	err     error
}

// stream serves a watch as server-sent events: one event per entry (id =
// revision, so that a reconnecting EventSource resumes with
// Last-Event-ID), flushed at once, a comment every Heartbeat while idle,
// until the client leaves, the server stops, or the watch ends (then an
// "error" event with the problem, e.g. 410 when the watcher fell behind
// the retained log: list again, then watch from the list's revision).
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, wt checkpoint.Watcher, from uint64) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// Next blocks; it runs on its own goroutine so that heartbeats go out
	// while it waits. The channel is unbuffered and every send also
	// selects on ctx, so the goroutine ends with the request.
	results := make(chan nextResult)
	go func() {
		for {
			entries, err := wt.Next(ctx)
			select {
			case results <- nextResult{entries, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	// A client that stops reading is dropped once a write cannot go out
	// for two heartbeats: its kernel buffers are full.
	deadline := func() { rc.SetWriteDeadline(time.Now().Add(2*h.o.Heartbeat + 5*time.Second)) }
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	hd.Set(HeaderRevision, strconv.FormatUint(from, 10))
	deadline()
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, "retry: 1000\n: watching after revision %d\n\n", from); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(h.o.Heartbeat)
	defer tick.Stop()
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			deadline()
			if _, err := w.Write([]byte(": ping\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		case res := <-results:
			deadline()
			if res.err != nil {
				if ctx.Err() != nil {
					return
				}
				p := problem.FromError(res.err)
				data, _ := json.Marshal(p)
				fmt.Fprintf(w, "event: error\ndata: %s\n\n", data)
				rc.Flush()
				return
			}
			buf = buf[:0]
			for _, ev := range events(res.entries) {
				data, err := json.Marshal(ev)
				if err != nil {
					return
				}
				buf = fmt.Appendf(buf, "id: %d\nevent: %s\ndata: %s\n\n", ev.Revision, ev.Op, data)
			}
			if len(buf) == 0 {
				continue
			}
			if _, err := w.Write(buf); err != nil || rc.Flush() != nil {
				return
			}
			tick.Reset(h.o.Heartbeat)
		}
	}
}
