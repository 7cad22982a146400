// Package api serves a checkpoint.Replica over HTTP/1.1: the client API of
// `vnfha checkpoint serve` (docs/checkpoint.md), on a unix socket and,
// optionally, on TCP with a bearer token.
//
//	PUT    /v1/checkpoints/{key}        body = value; If-Match / If-None-Match: *
//	GET    /v1/checkpoints/{key}        the value; ETag, Checkpoint-Revision, Checkpoint-Role
//	DELETE /v1/checkpoints/{key}
//	GET    /v1/checkpoints?prefix=&after=&limit=
//	GET    /v1/watch?from=&prefix=[&wait=]   SSE, or a long poll with wait
//	GET    /v1/status
//	POST   /v1/control/{promote,demote,follow}   (unix socket only)
//
// Errors are application/problem+json (package checkpoint/problem).
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/problem"
)

// Headers the API adds to the standard ones.
const (
	HeaderRevision = "Checkpoint-Revision"
	HeaderRole     = "Checkpoint-Role"
	HeaderPrimary  = "Checkpoint-Primary"
)

// Defaults of Options.
const (
	DefaultHeartbeat  = 15 * time.Second
	DefaultMaxWait    = 60 * time.Second
	DefaultWriteWait  = 30 * time.Second
	DefaultMaxWatches = 1000
	// maxControlBody bounds a control request's JSON.
	maxControlBody = 64 << 10
)

// Options configure a Handler.
type Options struct {
	// MaxValue is the largest value a PUT may carry (default
	// checkpoint.DefaultMaxValue).
	MaxValue int64
	// Control serves /v1/control/*: set it only for the unix socket's
	// handler, whose file permissions say who may promote.
	Control bool
	// Token, when not empty, is the bearer token every request must
	// carry (the TCP listener's).
	Token string
	// Heartbeat is how often an idle SSE watch sends a comment, so that
	// proxies and the client see the stream alive (default 15s).
	Heartbeat time.Duration
	// MaxWait bounds a long poll's wait (default 60s).
	MaxWait time.Duration
	// MaxWatches bounds the watches (SSE and long polls) open at once on
	// this handler (default 1000): past it a watch gets 503, so that a
	// client opening watches in a loop cannot exhaust the process.
	MaxWatches int
	// WriteWait bounds how long a write waits for the replica (default
	// 30s, below the server's write timeout): past it the client gets
	// 504 and the write's outcome is unknown, as after a lost connection.
	WriteWait time.Duration
	// Logger logs what the client is not told (the default discards).
	Logger logrus.FieldLogger
}

// Handler serves the API over one replica.
type Handler struct {
	r     checkpoint.Replica
	o     Options
	token [sha256.Size]byte
	log   logrus.FieldLogger
	// watches holds a token per open watch.
	watches chan struct{}
}

// NewHandler returns the API's handler over r.
func NewHandler(r checkpoint.Replica, o Options) *Handler {
	if o.MaxValue <= 0 {
		o.MaxValue = checkpoint.DefaultMaxValue
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.WriteWait <= 0 {
		o.WriteWait = DefaultWriteWait
	}
	if o.MaxWatches <= 0 {
		o.MaxWatches = DefaultMaxWatches
	}
	h := &Handler{r: r, o: o, log: o.Logger, watches: make(chan struct{}, o.MaxWatches)}
	if h.log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		h.log = l
	}
	if o.Token != "" {
		h.token = sha256.Sum256([]byte(o.Token))
	}
	return h
}

const (
	pathItems   = "/v1/checkpoints"
	pathItem    = "/v1/checkpoints/"
	pathWatch   = "/v1/watch"
	pathStatus  = "/v1/status"
	pathControl = "/v1/control/"
)

// ServeHTTP routes by the escaped path, never a cleaned one: a key with
// ".." must be refused (400), not resolved by a redirect.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.o.Token != "" && !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vnfha-checkpoint"`)
		h.problem(w, r, problem.New(problem.TypeUnauthorized, http.StatusUnauthorized, "a bearer token is required (Authorization: Bearer ...)"))
		return
	}
	p := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(p, pathItem):
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.get(w, r)
		case http.MethodPut:
			h.put(w, r)
		case http.MethodDelete:
			h.delete(w, r)
		default:
			h.method(w, r, "GET, HEAD, PUT, DELETE")
		}
	case p == pathItems:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.method(w, r, "GET, HEAD")
			return
		}
		h.list(w, r)
	case p == pathWatch:
		if r.Method != http.MethodGet {
			h.method(w, r, "GET")
			return
		}
		h.watch(w, r)
	case p == pathStatus:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.method(w, r, "GET, HEAD")
			return
		}
		h.json(w, http.StatusOK, h.r.Status())
	case strings.HasPrefix(p, pathControl) && h.o.Control:
		if r.Method != http.MethodPost {
			h.method(w, r, "POST")
			return
		}
		h.control(w, r, strings.TrimPrefix(p, pathControl))
	default:
		h.problem(w, r, problem.New(problem.TypeNoRoute, http.StatusNotFound, "no such path: see docs/checkpoint.md for the API"))
	}
}

// authorized compares the bearer token in constant time: both sides are
// hashed first, so that neither the token's bytes nor its length leak
// through the comparison's time.
func (h *Handler) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], h.token[:]) == 1
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	key, err := keyFromPath(r.URL.EscapedPath(), pathItem)
	if err != nil {
		h.invalid(w, r, err)
		return
	}
	if len(r.URL.RawQuery) > 0 {
		h.invalid(w, r, errors.New("a key's GET takes no query"))
		return
	}
	it, rev, err := h.r.Get(r.Context(), key)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Length", strconv.Itoa(len(it.Value)))
	hd.Set("ETag", etag(it.Rev))
	hd.Set(HeaderRevision, strconv.FormatUint(rev, 10))
	hd.Set(HeaderRole, string(h.r.Status().Role))
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(it.Value)
	}
}

// writeAnswer is a write's JSON answer.
type writeAnswer struct {
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
}

// writeTarget reads a write's key and condition, or answers 400.
func (h *Handler) writeTarget(w http.ResponseWriter, r *http.Request) (string, checkpoint.Cond, bool) {
	key, err := keyFromPath(r.URL.EscapedPath(), pathItem)
	if err == nil && r.URL.RawQuery != "" {
		// A query would be ignored: refused, lest a client believe it
		// did something (a "?ttl=" that does not exist).
		err = errors.New("a write takes no query")
	}
	if err == nil {
		var cond checkpoint.Cond
		if cond, err = condFromHeaders(r.Header); err == nil {
			return key, cond, true
		}
	}
	h.invalid(w, r, err)
	return "", checkpoint.Cond{}, false
}

func (h *Handler) put(w http.ResponseWriter, r *http.Request) {
	key, cond, ok := h.writeTarget(w, r)
	if !ok {
		return
	}
	// Refuse from the announced length before reading a byte: a client
	// that sent Expect: 100-continue then never sends the body.
	if r.ContentLength > h.o.MaxValue {
		h.fail(w, r, &checkpoint.TooLargeError{Size: r.ContentLength, Limit: h.o.MaxValue})
		return
	}
	value, err := h.readValue(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.o.WriteWait)
	defer cancel()
	rev, created, err := h.r.Put(ctx, key, value, cond)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	h.writeAnswer(w, status, key, rev)
}

// readValue reads a PUT's body, at most MaxValue bytes: a body without a
// length (chunked) or longer than it announced is cut off there (413).
func (h *Handler) readValue(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, h.o.MaxValue)
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(body); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &checkpoint.TooLargeError{Size: r.ContentLength, Limit: h.o.MaxValue}
		}
		return nil, &checkpoint.InvalidError{Reason: "reading the value: " + err.Error()}
	}
	return buf.Bytes(), nil
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	key, cond, ok := h.writeTarget(w, r)
	if !ok {
		return
	}
	if cond.Match && cond.Rev == 0 {
		h.invalid(w, r, errors.New("If-None-Match: * on a DELETE can never succeed"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.o.WriteWait)
	defer cancel()
	rev, err := h.r.Delete(ctx, key, cond)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeAnswer(w, http.StatusOK, key, rev)
}

func (h *Handler) writeAnswer(w http.ResponseWriter, status int, key string, rev uint64) {
	w.Header().Set(HeaderRevision, strconv.FormatUint(rev, 10))
	w.Header().Set("ETag", etag(rev))
	h.json(w, status, writeAnswer{Key: key, Revision: rev})
}

// ListAnswer is the answer of GET /v1/checkpoints.
type ListAnswer struct {
	Revision uint64            `json:"revision"`
	Items    []checkpoint.Item `json:"items"`
	More     bool              `json:"more"`
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q, err := parseListQuery(r.URL.RawQuery)
	if err != nil {
		h.invalid(w, r, err)
		return
	}
	items, rev, more, err := h.r.List(r.Context(), q.prefix, q.after, q.limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// A page holds at most MaxListBytes of values (and always one item),
	// so that a thousand large values do not make a gigabyte of JSON: the
	// client asks for the rest with after=.
	size := 0
	for i, it := range items {
		if size += len(it.Value); size > MaxListBytes && i > 0 {
			items, more = items[:i], true
			break
		}
	}
	if items == nil {
		items = []checkpoint.Item{}
	}
	w.Header().Set(HeaderRevision, strconv.FormatUint(rev, 10))
	h.json(w, http.StatusOK, ListAnswer{Revision: rev, Items: items, More: more})
}

// FollowRequest is the body of POST /v1/control/follow.
type FollowRequest struct {
	Node string `json:"node"`
}

func (h *Handler) control(w http.ResponseWriter, r *http.Request, what string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		h.invalid(w, r, errors.New("control request body: too long or unreadable"))
		return
	}
	decode := func(v any) bool {
		if len(bytes.TrimSpace(body)) == 0 {
			return true
		}
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		if err := d.Decode(v); err != nil {
			h.invalid(w, r, errors.New("control request body: "+err.Error()))
			return false
		}
		return true
	}
	switch what {
	case "promote":
		var req checkpoint.PromoteRequest
		if !decode(&req) {
			return
		}
		h.log.WithFields(logrus.Fields{"min_epoch": req.MinEpoch, "force": req.Force}).Info("promote requested")
		st, err := h.r.Promote(r.Context(), req)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.json(w, http.StatusOK, st)
	case "demote":
		h.log.Info("demote requested")
		if err := h.r.Demote(r.Context()); err != nil {
			h.fail(w, r, err)
			return
		}
		h.json(w, http.StatusOK, h.r.Status())
	case "follow":
		var req FollowRequest
		if !decode(&req) {
			return
		}
		if req.Node == "" {
			h.invalid(w, r, errors.New(`follow: name the primary's node, {"node":"node2"}`))
			return
		}
		h.log.WithField("primary", req.Node).Info("follow requested")
		if err := h.r.Follow(req.Node); err != nil {
			h.fail(w, r, err)
			return
		}
		h.json(w, http.StatusOK, h.r.Status())
	default:
		h.problem(w, r, problem.New(problem.TypeNoRoute, http.StatusNotFound, "no such control: promote, demote or follow"))
	}
}

func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

func (h *Handler) json(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		h.log.WithError(err).Error("encode answer")
		status, data = http.StatusInternalServerError, []byte(`{"type":"`+problem.TypeInternal+`","title":"Internal Server Error","status":500}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

func (h *Handler) invalid(w http.ResponseWriter, r *http.Request, err error) {
	h.problem(w, r, problem.New(problem.TypeInvalid, http.StatusBadRequest, err.Error()))
}

func (h *Handler) method(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	h.problem(w, r, problem.New(problem.TypeMethod, http.StatusMethodNotAllowed, r.Method+" is not allowed here: "+allow))
}

// fail answers err as its problem. A client that went away gets nothing
// (there is no one to tell); the write, if any, may still have happened.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		h.log.WithFields(logrus.Fields{"method": r.Method, "path": r.URL.Path}).Debug("client went away")
		return
	}
	p := problem.FromError(err)
	if p.Status == http.StatusInternalServerError {
		h.log.WithError(err).WithFields(logrus.Fields{"method": r.Method, "path": r.URL.Path}).Error("request failed")
	}
	h.problem(w, r, p)
}

func (h *Handler) problem(w http.ResponseWriter, r *http.Request, p problem.Problem) {
	hd := w.Header()
	if p.Primary != "" {
		hd.Set(HeaderPrimary, p.Primary)
	}
	if p.Status == http.StatusServiceUnavailable {
		hd.Set("Retry-After", "1")
	}
	data, _ := json.Marshal(p)
	hd.Set("Content-Type", problem.ContentType)
	hd.Set("Content-Length", strconv.Itoa(len(data)+1))
	hd.Del("ETag")
	w.WriteHeader(p.Status)
	if r.Method != http.MethodHead {
		w.Write(append(data, '\n'))
	}
}
