package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// DefaultMaxReply caps the bytes read for one reply. A `show stat` of a
// few thousand servers is well under 4 MiB; the cap is there so that a
// peer that lies (or a wrong socket that streams forever) cannot eat the
// bridge's memory.
const DefaultMaxReply = 16 << 20

// DefaultTimeout bounds one command batch when the caller's context has no
// earlier deadline, so a hung HAProxy can never hang a reconcile.
const DefaultTimeout = 5 * time.Second

// ErrReplyTooLarge is returned when a reply exceeds Client.MaxReply.
var ErrReplyTooLarge = errors.New("reply exceeds the size limit")

// ErrIncomplete is returned for a reply that ended before HAProxy had
// answered every command of the line: the connection closed early (a
// crash, a reload, a peer that is not HAProxy). What such a line did is
// unknown; the next reconcile reads the state again.
var ErrIncomplete = errors.New("reply cut short")

// Client talks to one HAProxy stats socket (the runtime API, level admin
// for writes). It holds no connection: every batch dials, writes one line,
// and reads until HAProxy closes, which is how the non-interactive stats
// socket frames a reply (research A.1: the blank-line terminator is
// missing after some replies, so it cannot be trusted). A short connection
// also always reaches the current worker after a reload (research A.6).
//
// A Client is safe for concurrent use; its fields must not change after
// the first call.
type Client struct {
	network, address string

	// MaxReply caps one reply in bytes; DefaultMaxReply when 0.
	MaxReply int64
	// Timeout bounds one batch when the context has no earlier deadline;
	// DefaultTimeout when 0.
	Timeout time.Duration
}

// NewClient returns a Client for addr: "unix:///run/haproxy/admin.sock",
// "tcp://10.0.0.5:9999", or a bare absolute path to a unix socket.
func NewClient(addr string) (*Client, error) {
	network, address, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	return &Client{network: network, address: address}, nil
}

func parseAddr(addr string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(addr, "unix://"):
		network, address = "unix", strings.TrimPrefix(addr, "unix://")
		if address == "" {
			return "", "", fmt.Errorf("haproxy address %q: empty socket path", addr)
		}
	case strings.HasPrefix(addr, "tcp://"):
		network, address = "tcp", strings.TrimPrefix(addr, "tcp://")
		if _, _, err := net.SplitHostPort(address); err != nil {
			return "", "", fmt.Errorf("haproxy address %q: %w", addr, err)
		}
	case strings.HasPrefix(addr, "/"):
		network, address = "unix", addr
	default:
		return "", "", fmt.Errorf("haproxy address %q: want unix:///path, tcp://host:port or an absolute path", addr)
	}
	return network, address, nil
}

// String returns the address in the form NewClient accepts, for logs.
func (c *Client) String() string { return c.network + "://" + c.address }

// Run sends cmds joined with ";" on one line of one connection and returns
// the raw reply, read until HAProxy closes the connection. HAProxy runs
// every command of the line even when one fails, and simply concatenates
// their replies, so the reply of a batch cannot be split back per command
// in general; batch only commands whose replies are checked together (see
// Exec). A command that contains a newline or ";" is refused before
// anything is sent: it would smuggle in another command.
func (c *Client) Run(ctx context.Context, cmds ...string) (string, error) {
	if len(cmds) == 0 {
		return "", errors.New("haproxy: no command")
	}
	for _, cmd := range cmds {
		if cmd == "" || strings.ContainsAny(cmd, ";\r\n") {
			return "", fmt.Errorf("haproxy: refusing command %q: empty, or contains ';' or a newline", truncate(cmd))
		}
	}
	line := strings.Join(cmds, "; ")
	reply, err := c.roundTrip(ctx, line)
	if err != nil {
		return reply, fmt.Errorf("haproxy %s: %q: %w", c, truncate(line), err)
	}
	return reply, nil
}

// Exec runs cmds on one line (see Run) and turns the reply into an error:
// nil when every command succeeded, a *ReplyError (matching the Err*
// sentinels with errors.Is) for the first error HAProxy reported, or the
// transport error.
func (c *Client) Exec(ctx context.Context, cmds ...string) error {
	reply, err := c.Run(ctx, cmds...)
	if err != nil {
		return err
	}
	// HAProxy answers every command with at least one line (an empty one
	// on success), so fewer lines than commands, or a last line without
	// its end, is a reply cut short: what the line did is unknown, and
	// reading it as a success would log changes that may not have been
	// made.
	if n := strings.Count(reply, "\n"); n < len(cmds) || !strings.HasSuffix(reply, "\n") {
		return fmt.Errorf("haproxy %s: %q: %w: %d lines for %d commands", c, truncate(strings.Join(cmds, "; ")), ErrIncomplete, n, len(cmds))
	}
	if err := ParseReply(reply); err != nil {
		var re *ReplyError
		if errors.As(err, &re) {
			re.Command = truncate(strings.Join(cmds, "; "))
		}
		return err
	}
	return nil
}

func (c *Client) roundTrip(ctx context.Context, line string) (string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, c.network, c.address)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return "", fmt.Errorf("set deadline: %w", err)
	}
	// A cancelled context must interrupt a blocked read at once, not at
	// the deadline.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return "", fmt.Errorf("send: %w", ctxErr(ctx, err))
	}
	// Half-close so that a peer waiting for more input (the master CLI
	// does, research A.6) answers and closes; the stats socket does not
	// need it but is not disturbed by it.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	limit := c.MaxReply
	if limit <= 0 {
		limit = DefaultMaxReply
	}
	var b strings.Builder
	n, err := io.Copy(&b, io.LimitReader(conn, limit+1))
	if err != nil {
		return "", fmt.Errorf("read reply (%d bytes so far): %w", n, ctxErr(ctx, err))
	}
	if n > limit {
		return "", fmt.Errorf("read reply: %w (%d bytes)", ErrReplyTooLarge, limit)
	}
	return b.String(), nil
}

// ctxErr names the context's error when it caused err. The connection's
// deadline is the context's, and it can fire a moment before the
// context's own timer: an i/o timeout is then the context's deadline.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}

// truncate keeps text that goes into errors and logs bounded.
func truncate(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
