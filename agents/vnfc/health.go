package vnfc

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// probe is the health check of a running VNFC. Exactly one of addr, url and
// argv is set.
type probe struct {
	addr    string   // tcp: host:port to connect to
	url     *url.URL // http or https: GET, 2xx or 3xx is healthy
	argv    []string // exec: exit status 0 is healthy
	timeout time.Duration
}

func (p *probe) String() string {
	switch {
	case p.addr != "":
		return "tcp://" + p.addr
	case p.url != nil:
		return p.url.Redacted()
	}
	return "exec:" + strings.Join(p.argv, " ")
}

// parseProbe reads the health parameter: "" or "none", tcp://host:port,
// http://..., https://... or exec:/path args.
func parseProbe(s string, timeout time.Duration) (*probe, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return nil, nil
	}
	if timeout <= 0 || timeout > maxHealthTimeout {
		return nil, fmt.Errorf("health_timeout must be more than 0 and at most %s", maxHealthTimeout)
	}
	p := &probe{timeout: timeout}
	switch {
	case strings.HasPrefix(s, "tcp://"):
		hp := strings.TrimPrefix(s, "tcp://")
		if err := checkHostPort(hp); err != nil {
			return nil, fmt.Errorf("health %q: want tcp://host:port: %w", s, err)
		}
		p.addr = hp
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		u, err := parseHTTPURL(s)
		if err != nil {
			return nil, fmt.Errorf("health: %w", err)
		}
		p.url = u
	case strings.HasPrefix(s, "exec:"):
		argv, err := splitWords(strings.TrimPrefix(s, "exec:"))
		if err != nil {
			return nil, fmt.Errorf("health: %w", err)
		}
		if len(argv) == 0 || !strings.HasPrefix(argv[0], "/") {
			return nil, fmt.Errorf("health %q: want exec:/absolute/path args", s)
		}
		p.argv = argv
	default:
		return nil, fmt.Errorf("health %q: want none, tcp://host:port, http://..., https://... or exec:/path args", s)
	}
	return p, nil
}

// runFunc runs a command as the VNFC would run it, killing its process
// group when ctx ends, and returns its combined output: config.runAsVNFC.
type runFunc func(ctx context.Context, argv []string, env ...string) (string, error)

// check runs the probe once; run runs an exec probe's command.
func (p *probe) check(ctx context.Context, run runFunc) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	switch {
	case p.addr != "":
		// A connect alone does not catch a hung process: the kernel
		// completes the handshake of a listening socket by itself. The
		// documentation says so and points at http or exec.
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return fmt.Errorf("health tcp://%s: %w", p.addr, err)
		}
		return conn.Close()
	case p.url != nil:
		return p.get(ctx)
	}
	if out, err := run(ctx, p.argv); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("health %s: no answer within %s", p, p.timeout)
		}
		return fmt.Errorf("health %s: %w%s", p, err, lastLine(out))
	}
	return nil
}

// get is the http and https probe. It follows no redirect (a 3xx counts as
// healthy, as in Kubernetes' httpGet probe) and does not verify the
// certificate: the probe asks whether the local process answers, not who it
// is, and VNFCs commonly serve a self-signed certificate.
func (p *probe) get(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url.String(), nil)
	if err != nil {
		return fmt.Errorf("health %s: %w", p, err)
	}
	req.Header.Set("User-Agent", "vnfha-vnfc-health")
	req.Close = true
	resp, err := httpClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("health %s: no answer within %s", p, p.timeout)
		}
		return fmt.Errorf("health %s: %w", p, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("health %s: HTTP status %s", p, resp.Status)
	}
	return nil
}

// httpClient is built per call: an agent process makes one or two requests
// and exits, so there is no pool worth keeping, and no proxy may be used for
// a node-local check.
func httpClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see get
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// lastLine returns ": " and the last non-empty line of a command's output,
// to put in an error, or "".
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return ""
	}
	return ": " + s
}
