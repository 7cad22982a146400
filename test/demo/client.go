package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	fp "path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vnfha/vnfha/lab"
)

// httpClient sends from the lab's client, a new connection per request
// (so that a moved VIP and the balancing are seen at once), each bounded.
func (r *run) httpClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			return r.l.Dial(ctx, lab.ClientName, network, a)
		}}}
}

// get is one GET from the client; an answer other than 200 is an error.
func (r *run) get(ctx context.Context, url string) (string, error) {
	return get(ctx, r.httpClient(2*time.Second), url)
}

// client is the demo's traffic: one loop per target, a request every
// interval, each logged as a line of JSON (Request) to its log.
type client struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	log    *os.File
}

const clientInterval = 20 * time.Millisecond

func (r *run) traffic(ctx context.Context) error {
	f, err := os.OpenFile(fp.Join(r.dir, "client.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &client{cancel: cancel, log: f}
	targets := map[string]string{"vip": "http://" + net.JoinHostPort(r.vip().String(), strconv.Itoa(appPort)) + "/"}
	for _, lb := range []string{lb1, lb2} {
		targets[lb] = "http://" + r.lbs[lb].Frontend.String() + "/"
	}
	hc := r.httpClient(time.Second)
	for name, url := range targets {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.loop(cctx, hc, name, url)
		}()
		r.p.say("GET %s every %s (%s)", url, clientInterval, name)
	}
	r.client = c
	r.p.say("each request is logged in %s", f.Name())
	// A little traffic before the first fault, so that set-up A has
	// saved a revision the timeline can compare.
	return r.p.waitFor(ctx, "the client is answered on all three targets", 20*time.Second, 200*time.Millisecond, func() (bool, string) {
		qs, err := readClientLog(fp.Join(r.dir, "client.log"))
		if err != nil {
			return false, err.Error()
		}
		ok := map[string]bool{}
		for _, q := range qs {
			if q.OK && (q.Target != "vip" || q.Rev > 0) {
				ok[q.Target] = true
			}
		}
		return len(ok) == len(targets), fmt.Sprintf("answered: %v", ok)
	})
}

func (c *client) loop(ctx context.Context, hc *http.Client, name, url string) {
	t := time.NewTicker(clientInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		q := Request{Start: time.Now(), Target: name}
		body, err := get(ctx, hc, url)
		q.Took = time.Since(q.Start)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			q.Err = err.Error()
		} else {
			f := strings.Fields(body)
			q.OK, q.Node = len(f) > 0, strings.Join(f[:min(1, len(f))], "")
			for _, w := range f {
				if v, ok := strings.CutPrefix(w, "rev="); ok {
					q.Rev, _ = strconv.ParseUint(v, 10, 64)
				}
			}
		}
		b, _ := json.Marshal(q)
		c.mu.Lock()
		c.log.Write(append(b, '\n'))
		c.mu.Unlock()
	}
}

func get(ctx context.Context, hc *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s", resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

func (c *client) stop() {
	c.cancel()
	c.wg.Wait()
	c.log.Close()
}
