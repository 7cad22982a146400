package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/ocf"
)

// storeClient talks to the local store over its unix socket: GET
// /v1/status and the control endpoints, which the store serves there only.
// Every call is bounded by its context and by the timeouts here; answers
// are read up to maxAnswer bytes.
type storeClient struct {
	socket string
	hc     *http.Client
}

// maxAnswer bounds what is read of an answer: a Status with its standbys
// is a few KiB.
const maxAnswer = 1 << 20

// How long one call may take at most, whatever the action's time: a store
// that does not answer its status within statusTimeout is taken as not
// answering (monitor says so), and a control call waits longer, since a
// promote asks the peers.
const (
	statusTimeout  = 5 * time.Second
	controlTimeout = 30 * time.Second
)

func newStoreClient(socket string) *storeClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
		ResponseHeaderTimeout:  controlTimeout,
	}
	return &storeClient{socket: socket, hc: &http.Client{Transport: tr, Timeout: controlTimeout}}
}

// problem is an application/problem+json answer (RFC 9457), with the
// store's own members.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// A refused promote's fresher peer, when the store names it in
	// members of its own.
	Peer     string          `json:"peer"`
	Position json.RawMessage `json:"position"`
	Own      json.RawMessage `json:"own"`
}

// answerError is an answer the store gave with an error status.
type answerError struct {
	Status int
	Text   string // the problem's detail or title, or the body's start
}

func (e *answerError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Text)
}

// call sends a request and decodes a 2xx JSON answer into out (if not
// nil). Any other answer is an *answerError, or for a 409 to a promote a
// *checkpoint.FresherPeerError or *checkpoint.StaleError.
func (c *storeClient) call(ctx context.Context, method, path string, body, out any, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://store"+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "vnfha-checkpoint-agent")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, unwrapURL(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if len(b) > maxAnswer {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxAnswer)
	}
	if resp.StatusCode/100 != 2 {
		return answerErr(resp, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// fresherText is FresherPeerError's text, for a store that says it only in
// the problem's detail.
var fresherText = regexp.MustCompile(`peer (\S+) is fresher \((\d+:\d+)\) than this replica \((\d+:\d+)\)`)

// answerErr makes an error answer an error value: a 409 is a refused
// promote (a fresher peer, or this replica stale), anything else an
// *answerError with the problem's words, cut short.
func answerErr(resp *http.Response, b []byte) error {
	var p problem
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	text := ""
	if (mt == "application/problem+json" || mt == "application/json") && json.Unmarshal(b, &p) == nil {
		text = p.Detail
		if text == "" {
			text = p.Title
		}
	} else {
		text = string(b)
	}
	text = ocf.Truncate(ocf.OneLine(text), 200)
	if resp.StatusCode == http.StatusConflict {
		if p.Peer != "" {
			return &checkpoint.FresherPeerError{Peer: p.Peer, Position: position(p.Position), Own: position(p.Own)}
		}
		if m := fresherText.FindStringSubmatch(text); m != nil {
			fe := &checkpoint.FresherPeerError{Peer: m[1]}
			fe.Position, _ = checkpoint.ParsePosition(m[2])
			fe.Own, _ = checkpoint.ParsePosition(m[3])
			return fe
		}
		return &checkpoint.StaleError{Reason: text}
	}
	return &answerError{Status: resp.StatusCode, Text: text}
}

// position reads a problem's position member: {"epoch":E,"revision":R}
// or "E:R"; the zero Position if it is neither.
func position(raw json.RawMessage) checkpoint.Position {
	var pos checkpoint.Position
	var s string
	switch {
	case json.Unmarshal(raw, &pos) == nil:
	case json.Unmarshal(raw, &s) == nil:
		pos, _ = checkpoint.ParsePosition(s)
	}
	return pos
}

// unwrapURL drops net/http's "Get \"http://store/...\":" wrapper, which
// says nothing the caller does not.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *storeClient) status(ctx context.Context) (checkpoint.Status, error) {
	var st checkpoint.Status
	err := c.call(ctx, http.MethodGet, "/v1/status", nil, &st, statusTimeout)
	return st, err
}

func (c *storeClient) promote(ctx context.Context, req checkpoint.PromoteRequest) (checkpoint.Status, error) {
	var st checkpoint.Status
	err := c.call(ctx, http.MethodPost, "/v1/control/promote", req, &st, controlTimeout)
	return st, err
}

func (c *storeClient) demote(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/v1/control/demote", struct{}{}, nil, controlTimeout)
}

func (c *storeClient) follow(ctx context.Context, node string) error {
	return c.call(ctx, http.MethodPost, "/v1/control/follow", map[string]string{"node": node}, nil, statusTimeout)
}
