package ckptjepsen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/lab"
)

// Checkpoint is the Store of vnfha's checkpoint store, over its HTTP API
// (docs/checkpoint.md) at Base (http://VIP:port of api_listen): Put is
// PUT /v1/checkpoints/{key}, acknowledged by a 200 or 201 with the
// write's revision; ReadAll checks /v1/status says primary, then lists
// every key, a page at a time. It does not retry: an answer other than
// 200/201 is a write not acknowledged, as the harness wants to see it.
type Checkpoint struct {
	Base  string // http://host:port
	Dial  Dialer // nil: from this process's namespace
	Token string // the bearer token, if api_token_file is set

	hc *http.Client
}

func (c *Checkpoint) client() *http.Client {
	if c.hc == nil {
		tr := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
		if c.Dial != nil {
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) { return c.Dial(ctx, network, addr) }
		}
		c.hc = &http.Client{Transport: tr}
	}
	return c.hc
}

// keyPath escapes each segment of key (keys hold slashes).
func keyPath(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func (c *Checkpoint) do(ctx context.Context, method, path string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	// Answers here are small; a list page of 1000 items of 1 KiB is
	// about 1.4 MiB of JSON.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return resp, b, nil
}

// Put writes value under key.
func (c *Checkpoint) Put(ctx context.Context, key string, value []byte) (int64, error) {
	resp, b, err := c.do(ctx, http.MethodPut, "/v1/checkpoints/"+keyPath(key), value)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("PUT %s: %s: %s", key, resp.Status, clip(b))
	}
	var a struct {
		Key      string `json:"key"`
		Revision uint64 `json:"revision"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return 0, fmt.Errorf("PUT %s: %s with %q: %w", key, resp.Status, clip(b), err)
	}
	if a.Revision == 0 || a.Key != key {
		return 0, fmt.Errorf("PUT %s: %s answered key %q revision %d", key, resp.Status, a.Key, a.Revision)
	}
	return int64(a.Revision), nil
}

// ReadAll lists every key on the primary.
func (c *Checkpoint) ReadAll(ctx context.Context) ([]Item, int64, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return nil, 0, err
	}
	if st.Role != checkpoint.RolePrimary {
		return nil, 0, fmt.Errorf("%s (%s) is %s, not the primary", c.Base, st.Node, st.Role)
	}
	var items []Item
	var rev int64
	after := ""
	for page := 0; ; page++ {
		if page > 1<<20 {
			return nil, 0, errors.New("list: more than a million pages")
		}
		path := "/v1/checkpoints?limit=1000"
		if after != "" {
			path += "&after=" + url.QueryEscape(after)
		}
		resp, b, err := c.do(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("GET %s: %s: %s", path, resp.Status, clip(b))
		}
		var a struct {
			Revision uint64            `json:"revision"`
			Items    []checkpoint.Item `json:"items"`
			More     bool              `json:"more"`
		}
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, 0, fmt.Errorf("GET %s: %w", path, err)
		}
		if page == 0 {
			rev = int64(a.Revision)
		}
		for _, it := range a.Items {
			if it.Key <= after && after != "" {
				return nil, 0, fmt.Errorf("list: %q after %q: keys out of order", it.Key, after)
			}
			items = append(items, Item{Key: it.Key, Value: it.Value, Revision: int64(it.Rev)})
			after = it.Key
		}
		if !a.More || len(a.Items) == 0 {
			return items, rev, nil
		}
	}
}

// Close drops idle connections.
func (c *Checkpoint) Close() error {
	if c.hc != nil {
		c.hc.CloseIdleConnections()
	}
	return nil
}

// CheckpointStore is the client of a checkpoint store whose api_listen
// is :port on every replica, reached through vip from the lab's client
// namespace.
func CheckpointStore(l *lab.Lab, vip netip.Addr, port uint16) *Checkpoint {
	return &Checkpoint{Base: "http://" + netip.AddrPortFrom(vip, port).String(),
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return l.Dial(ctx, lab.ClientName, network, addr)
		}}
}
