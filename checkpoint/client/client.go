// Package client is the Go client of the checkpoint store's HTTP API
// (docs/checkpoint.md) for VNFCs written in Go.
//
// A Client knows one or more endpoints: the local replica's unix socket
// ("unix:/run/vnfha/checkpoint/state.sock") and TCP addresses
// ("http://198.18.0.10:7421", e.g. a VIP that follows the primary). A
// request that cannot reach a primary (a connection error, 503, or 421
// from a standby) is retried, with backoff, on the endpoint a 421 names
// (primary_api) or on the next one, until it succeeds, ctx ends, or
// MaxAttempts attempts were made: a failover is ridden out, not reported.
//
// A write whose outcome is unknown (the connection broke after the
// request was sent, or the primary was demoted while it waited) is sent
// again. A plain Put retried that way is harmless (the value is the
// same; only the revision differs), but an exact client writes with a
// condition: with If-Match (Cond{Match: true, Rev: r}) a retried write
// that had in fact happened fails with *checkpoint.ConditionError whose
// Have is the write's own revision; read the key to tell.
//
// Errors are those of package checkpoint (errors.Is(err,
// checkpoint.ErrNotFound), errors.As(err, &*checkpoint.ConditionError)...),
// rebuilt from the API's problem answers.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/problem"
)

// Defaults of a Client's retry fields.
const (
	DefaultMaxAttempts = 40
	DefaultMinBackoff  = 20 * time.Millisecond
	DefaultMaxBackoff  = time.Second
	// maxExtraEndpoints bounds the endpoints learnt from 421 answers.
	maxExtraEndpoints = 8
	// maxErrorBody bounds an error answer's body read.
	maxErrorBody = 64 << 10
)

// Client talks to the API. Set its exported fields before the first call;
// after that it is safe for concurrent use.
type Client struct {
	// Token is sent as a bearer token (the TCP API's api_token_file).
	Token string
	// MaxAttempts bounds the attempts of one call (default 40, which
	// with the default backoff rides out about half a minute of
	// failover). 1 disables retries.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between attempts (each
	// doubles it, with jitter).
	MinBackoff, MaxBackoff time.Duration

	eps []*endpoint
	cur atomic.Int32 // the endpoint to try first
	// pref is the primary a 421 named, tried first while it answers.
	pref atomic.Pointer[endpoint]

	mu    sync.Mutex
	extra map[string]*endpoint // learnt from 421 answers
}

type endpoint struct {
	name string // as given, for errors
	id   string // unix:/path or scheme://host: two endpoints with one id are one
	base string // scheme://host, for URLs
	hc   *http.Client
}

// New returns a client of the given endpoints, tried in order: "unix:"
// followed by a socket's path (an absolute path alone also works), or an
// http:// or https:// URL (its path must be empty or "/").
func New(endpoints ...string) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("checkpoint client: no endpoint")
	}
	c := &Client{extra: map[string]*endpoint{}}
	for _, s := range endpoints {
		ep, err := newEndpoint(s)
		if err != nil {
			return nil, fmt.Errorf("checkpoint client: %w", err)
		}
		c.eps = append(c.eps, ep)
	}
	return c, nil
}

func newEndpoint(s string) (*endpoint, error) {
	dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 15 * time.Second}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 90 * time.Second, // above the server's 60s long poll
		ExpectContinueTimeout: time.Second,
	}
	ep := &endpoint{name: s, hc: &http.Client{Transport: tr, CheckRedirect: noRedirect}}
	path, isUnix := strings.CutPrefix(s, "unix:")
	if !isUnix && strings.HasPrefix(s, "/") {
		path, isUnix = s, true
	}
	if isUnix {
		if !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("endpoint %q: a unix socket's path must be absolute", s)
		}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", path)
		}
		ep.base, ep.id = "http://checkpoint", "unix:"+path
		return ep, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("endpoint %q: want unix:/path or http://host:port", s)
	}
	ep.base = u.Scheme + "://" + u.Host
	ep.id = ep.base
	return ep, nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func (c *Client) maxAttempts() int {
	if c.MaxAttempts > 0 {
		return c.MaxAttempts
	}
	return DefaultMaxAttempts
}

func (c *Client) backoff(attempt int) time.Duration {
	lo, hi := c.MinBackoff, c.MaxBackoff
	if lo <= 0 {
		lo = DefaultMinBackoff
	}
	if hi <= 0 {
		hi = DefaultMaxBackoff
	}
	d := lo << min(attempt, 20)
	if d > hi || d <= 0 {
		d = hi
	}
	// Jitter, so that the clients of a failed primary do not all knock
	// on the new one in the same millisecond.
	return d/2 + rand.N(d/2+1)
}

// learn returns the endpoint for a primary_api address (an existing one
// when it matches), or nil when the address is unusable.
func (c *Client) learn(addr string) *endpoint {
	if addr == "" {
		return nil
	}
	if !strings.Contains(addr, "://") && !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "unix:") {
		addr = "http://" + addr
	}
	probe, err := newEndpoint(addr)
	if err != nil {
		return nil
	}
	for _, ep := range c.eps {
		if ep.id == probe.id {
			return ep
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ep, ok := c.extra[probe.id]; ok {
		return ep
	}
	if len(c.extra) >= maxExtraEndpoints {
		return nil
	}
	c.extra[probe.id] = probe
	return probe
}

// call is one API request.
type call struct {
	method, path string
	header       http.Header
	body         []byte
	// local: the replica behind the first endpoint, never another
	// (control calls, status); only connection errors are retried.
	local bool
}

// ErrRetriesExhausted wraps the last error when every attempt failed.
var ErrRetriesExhausted = errors.New("no attempt reached a primary")

// do sends a call, retrying as the package doc says. It returns the
// response (the caller closes its body) for any status that is not
// retried; a retried status that is the last answer becomes its error.
func (c *Client) do(ctx context.Context, k call) (*http.Response, error) {
	var (
		lastErr error
		next    *endpoint // named by a 421
		// followed: the last attempt went where a 421 sent it. Only the
		// first such hop skips the backoff, so two standbys that name
		// each other (during a failover) are not ping-ponged at full
		// speed.
		followed bool
	)
	n := len(c.eps)
	for attempt := 0; attempt < c.maxAttempts(); attempt++ {
		if attempt > 0 && (next == nil || followed) {
			t := time.NewTimer(c.backoff(attempt - 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("%w (last: %v)", ctx.Err(), lastErr)
			case <-t.C:
			}
		}
		i := int(c.cur.Load()) % n
		ep := c.eps[i]
		if p := c.pref.Load(); p != nil {
			ep = p
		}
		if k.local {
			ep = c.eps[0]
		}
		followed = next != nil
		if next != nil {
			ep, next = next, nil
		}
		resp, err := c.send(ctx, ep, k)
		if err != nil || (resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusMisdirectedRequest) {
			c.pref.CompareAndSwap(ep, nil)
		} else if followed {
			c.pref.Store(ep)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			// The URL is ours (http://checkpoint/... for a socket): the
			// endpoint and the cause say more.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			lastErr = fmt.Errorf("%s: %w", ep.name, err)
			c.cur.CompareAndSwap(int32(i), int32((i+1)%n))
			continue
		}
		if k.local || (resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusMisdirectedRequest) {
			return resp, nil
		}
		perr := answerErr(resp)
		lastErr = fmt.Errorf("%s: %w", ep.name, perr)
		var np *checkpoint.NotPrimaryError
		if errors.As(perr, &np) {
			if next = c.learn(np.PrimaryAPI); next == ep {
				next = nil // it sends us to itself: try the others
			}
		}
		if next == nil {
			c.cur.CompareAndSwap(int32(i), int32((i+1)%n))
		}
	}
	if k.local {
		return nil, lastErr
	}
	return nil, fmt.Errorf("%w after %d attempts: %w", ErrRetriesExhausted, c.maxAttempts(), lastErr)
}

func (c *Client) send(ctx context.Context, ep *endpoint, k call) (*http.Response, error) {
	var body io.Reader
	if k.body != nil {
		body = bytes.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, ep.base+k.path, body)
	if err != nil {
		return nil, err
	}
	if k.body != nil && len(k.body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for name, vs := range k.header {
		req.Header[name] = vs
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return ep.hc.Do(req)
}

// answerErr reads an error answer into the error it stands for, and
// closes the body.
func answerErr(resp *http.Response) error {
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == problem.ContentType {
		var p problem.Problem
		if err := json.Unmarshal(data, &p); err == nil && p.Type != "" {
			return p.Err()
		}
	}
	return &problem.Error{Problem: problem.Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), Detail: clip(string(data))}}
}

func clip(s string) string {
	const n = 200
	s = strings.ToValidUTF8(strings.TrimSpace(s), "?")
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func keyPath(key string) (string, error) {
	if err := checkpoint.ValidKey(key); err != nil {
		return "", &checkpoint.InvalidError{Reason: err.Error()}
	}
	// Each segment escaped, the slashes kept: the path reads as the key.
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/v1/checkpoints/" + strings.Join(segs, "/"), nil
}

func condHeader(cond checkpoint.Cond) http.Header {
	h := http.Header{}
	switch {
	case cond.Match && cond.Rev == 0:
		h.Set("If-None-Match", "*")
	case cond.Match:
		h.Set("If-Match", `"`+strconv.FormatUint(cond.Rev, 10)+`"`)
	}
	return h
}

type writeAnswer struct {
	Revision uint64 `json:"revision"`
}

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return answerErr(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decode the answer: %w", err)
	}
	return nil
}

// Put sets key to value (see Cond for If-Match and If-None-Match: *) and
// returns the write's revision, once the store acknowledged it (durable
// on the primary and its synchronous standbys).
func (c *Client) Put(ctx context.Context, key string, value []byte, cond checkpoint.Cond) (uint64, error) {
	p, err := keyPath(key)
	if err != nil {
		return 0, fmt.Errorf("put %q: %w", key, err)
	}
	if value == nil {
		value = []byte{}
	}
	resp, err := c.do(ctx, call{method: http.MethodPut, path: p, header: condHeader(cond), body: value})
	if err != nil {
		return 0, fmt.Errorf("put %q: %w", key, err)
	}
	var a writeAnswer
	if err := decodeJSON(resp, &a); err != nil {
		return 0, fmt.Errorf("put %q: %w", key, err)
	}
	return a.Revision, nil
}

// Delete removes key and returns the write's revision
// (checkpoint.ErrNotFound when it does not exist).
func (c *Client) Delete(ctx context.Context, key string, cond checkpoint.Cond) (uint64, error) {
	p, err := keyPath(key)
	if err != nil {
		return 0, fmt.Errorf("delete %q: %w", key, err)
	}
	if cond.Match && cond.Rev == 0 {
		return 0, fmt.Errorf("delete %q: %w", key, &checkpoint.InvalidError{Reason: "a delete conditioned on the key's absence can never succeed"})
	}
	resp, err := c.do(ctx, call{method: http.MethodDelete, path: p, header: condHeader(cond)})
	if err != nil {
		return 0, fmt.Errorf("delete %q: %w", key, err)
	}
	var a writeAnswer
	if err := decodeJSON(resp, &a); err != nil {
		return 0, fmt.Errorf("delete %q: %w", key, err)
	}
	return a.Revision, nil
}

// Get returns key's item (Item.Created is not sent by GET and stays 0)
// and the revision the answering replica has applied. A standby answers
// too (its applied state): reads are retried only on connection errors
// and 503.
func (c *Client) Get(ctx context.Context, key string) (checkpoint.Item, uint64, error) {
	p, err := keyPath(key)
	if err != nil {
		return checkpoint.Item{}, 0, fmt.Errorf("get %q: %w", key, err)
	}
	resp, err := c.do(ctx, call{method: http.MethodGet, path: p})
	if err != nil {
		return checkpoint.Item{}, 0, fmt.Errorf("get %q: %w", key, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return checkpoint.Item{}, 0, fmt.Errorf("get %q: %w", key, answerErr(resp))
	}
	value, err := io.ReadAll(resp.Body)
	if err != nil {
		return checkpoint.Item{}, 0, fmt.Errorf("get %q: read the value: %w", key, err)
	}
	rev, err1 := strconv.ParseUint(strings.Trim(resp.Header.Get("ETag"), `"`), 10, 64)
	applied, err2 := strconv.ParseUint(resp.Header.Get("Checkpoint-Revision"), 10, 64)
	if err1 != nil || err2 != nil {
		return checkpoint.Item{}, 0, fmt.Errorf("get %q: the answer has no revision (ETag %q, Checkpoint-Revision %q)", key,
			clip(resp.Header.Get("ETag")), clip(resp.Header.Get("Checkpoint-Revision")))
	}
	return checkpoint.Item{Key: key, Value: value, Rev: rev}, applied, nil
}

type listAnswer struct {
	Revision uint64            `json:"revision"`
	Items    []checkpoint.Item `json:"items"`
	More     bool              `json:"more"`
}

// List returns one page of the items whose keys start with prefix and
// sort after after (limit 0: the server's default, 100), the revision it
// was read at, and whether more follow.
func (c *Client) List(ctx context.Context, prefix, after string, limit int) ([]checkpoint.Item, uint64, bool, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/checkpoints"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := c.do(ctx, call{method: http.MethodGet, path: path})
	if err != nil {
		return nil, 0, false, fmt.Errorf("list %q: %w", prefix, err)
	}
	var a listAnswer
	if err := decodeJSON(resp, &a); err != nil {
		return nil, 0, false, fmt.Errorf("list %q: %w", prefix, err)
	}
	return a.Items, a.Revision, a.More, nil
}

// ListAll pages through every item under prefix. The pages are read at
// increasing revisions; rev is the first page's, so that a watch from rev
// sees every change the pages may have missed (Mirror does that).
func (c *Client) ListAll(ctx context.Context, prefix string) (items []checkpoint.Item, rev uint64, err error) {
	after := ""
	for page := 0; ; page++ {
		got, r, more, err := c.List(ctx, prefix, after, 0)
		if err != nil {
			return nil, 0, err
		}
		if page == 0 {
			rev = r
		}
		items = append(items, got...)
		if !more || len(got) == 0 {
			return items, rev, nil
		}
		after = got[len(got)-1].Key
	}
}

// Status returns the first endpoint's replica status (no failover: it
// is that replica's).
func (c *Client) Status(ctx context.Context) (checkpoint.Status, error) {
	var st checkpoint.Status
	resp, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/status", local: true})
	if err == nil {
		err = decodeJSON(resp, &st)
	}
	if err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	return st, nil
}

func (c *Client) control(ctx context.Context, what string, body any) (checkpoint.Status, error) {
	var st checkpoint.Status
	data, err := json.Marshal(body)
	if err != nil {
		return st, err
	}
	resp, err := c.do(ctx, call{method: http.MethodPost, path: "/v1/control/" + what, body: data,
		header: http.Header{"Content-Type": {"application/json"}}, local: true})
	if err == nil {
		err = decodeJSON(resp, &st)
	}
	if err != nil {
		return st, fmt.Errorf("%s: %w", what, err)
	}
	return st, nil
}

// Promote asks the first endpoint's replica (its unix socket: control is
// served nowhere else) to become the primary.
func (c *Client) Promote(ctx context.Context, req checkpoint.PromoteRequest) (checkpoint.Status, error) {
	return c.control(ctx, "promote", req)
}

// Demote asks the first endpoint's replica to become a standby.
func (c *Client) Demote(ctx context.Context) (checkpoint.Status, error) {
	return c.control(ctx, "demote", struct{}{})
}

// FollowPrimary tells the first endpoint's replica that node is the
// primary now.
func (c *Client) FollowPrimary(ctx context.Context, node string) (checkpoint.Status, error) {
	return c.control(ctx, "follow", struct {
		Node string `json:"node"`
	}{node})
}
