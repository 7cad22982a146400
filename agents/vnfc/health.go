package vnfc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

// probe is the health check of a running VNFC. Exactly one of addr, url and
// argv is set.
type probe struct {
	addr    string   // tcp: host:port to connect to
	url     *url.URL // http or https: GET, 2xx or 3xx is healthy
	argv    []string // exec: exit status 0 is healthy
	timeout time.Duration
}

// String names the check in exit reasons and logs, cut to a few dozen
// bytes: a long URL or command line must not push the cause out of the
// reason, nor carry unbounded input into the log.
func (p *probe) String() string {
	switch {
	case p.addr != "":
		return ocf.Truncate("tcp://"+p.addr, shownMax)
	case p.url != nil:
		return ocf.Truncate(p.url.Redacted(), shownMax)
	}
	return ocf.Truncate(ocf.OneLine("exec:"+strings.Join(p.argv, " ")), shownMax)
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
			return nil, fmt.Errorf("health: want tcp://host:port (%w), not %s", err, ocf.Quote(s))
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
			return nil, fmt.Errorf("health: want exec:/absolute/path args, not %s", ocf.Quote(s))
		}
		p.argv = argv
	default:
		return nil, fmt.Errorf("health: want none, tcp://, http://, https:// or exec:/path, not %s", ocf.Quote(s))
	}
	return p, nil
}

// check runs the probe once, for the VNFC c configures: an exec probe runs
// as the VNFC would (c.runAsVNFC), an https one verifies as c says.
func (p *probe) check(ctx context.Context, c *config) error {
	began := time.Now()
	parent := ctx
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
		return p.get(ctx, c, parent, began)
	}
	if out, err := c.runAsVNFC(ctx, p.argv); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("health %s: %s", p, p.noAnswer(parent, began))
		}
		return fmt.Errorf("health %s: %w%s", p, err, lastLine(out))
	}
	return nil
}

// noAnswer says how long a check that timed out waited: health_timeout
// when that ended it, else the time it had before the operation's own
// deadline (parent) cut it short, which may be far less.
func (p *probe) noAnswer(parent context.Context, began time.Time) string {
	// The deadlines decide, not which context's timer fired first.
	if dl, ok := parent.Deadline(); ok && dl.Before(began.Add(p.timeout)) {
		return fmt.Sprintf("no answer within %s, before the operation's timeout", time.Since(began).Round(time.Millisecond))
	}
	return fmt.Sprintf("no answer within %s", p.timeout)
}

// get is the http and https probe. It follows no redirect (a 3xx counts as
// healthy, as in Kubernetes' httpGet probe). It verifies the server's
// certificate unless tls_verify=false: against tls_ca_file's certificates
// when set (a VNFC's own CA), else the system's.
func (p *probe) get(ctx context.Context, c *config, parent context.Context, began time.Time) error {
	client, err := c.httpClient()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url.String(), nil)
	if err != nil {
		return fmt.Errorf("health %s: %w", p, err)
	}
	req.Header.Set("User-Agent", "vnfha-vnfc-health")
	req.Close = true
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("health %s: %s", p, p.noAnswer(parent, began))
		}
		return fmt.Errorf("health %s: %w", p, unwrapURLError(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("health %s: HTTP status %d %s", p, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

// unwrapURLError drops the method and the URL that net/http puts before
// the cause (the reason names the URL already), so that the cause comes
// first and fits in an exit reason.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
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
