package ckptjepsen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// A tiny RESP2 client: what the harness and the benchmark need of Redis
// (SET, WAIT, ROLE, KEYS, MGET, INFO) on one connection, so that a write
// and the WAIT that acknowledges it are known to share it; a client
// library's pool and retries would hide exactly what the test counts.

// Limits on what a reply may hold: a server that lies cannot make the
// client allocate without bound.
const (
	maxBulk     = 64 << 20
	maxArray    = 1 << 20
	maxDepth    = 8
	maxLineSize = 64 << 10
)

// Reply is one RESP2 reply. Kind is its type byte: '+' simple string,
// '-' error, ':' integer, '$' bulk string, '*' array.
type Reply struct {
	Kind  byte
	Str   []byte // '+', '-', '$'
	Int   int64  // ':'
	Array []Reply
	Nil   bool // "$-1" or "*-1"
}

// RedisError is an error reply ("-ERR ...", "-READONLY ...").
type RedisError string

func (e RedisError) Error() string { return "redis: " + string(e) }

// ReadReply reads one reply from r.
func ReadReply(r *bufio.Reader) (Reply, error) { return readReply(r, 0) }

func readReply(r *bufio.Reader, depth int) (Reply, error) {
	if depth > maxDepth {
		return Reply{}, fmt.Errorf("resp: arrays nested deeper than %d", maxDepth)
	}
	line, err := readLine(r)
	if err != nil {
		return Reply{}, err
	}
	if len(line) == 0 {
		return Reply{}, errors.New("resp: empty line")
	}
	rep := Reply{Kind: line[0]}
	body := line[1:]
	switch rep.Kind {
	case '+', '-':
		rep.Str = body
	case ':':
		if rep.Int, err = strconv.ParseInt(string(body), 10, 64); err != nil {
			return Reply{}, fmt.Errorf("resp: integer %q: %w", clip(body), err)
		}
	case '$':
		n, err := strconv.ParseInt(string(body), 10, 64)
		if err != nil || n < -1 || n > maxBulk {
			return Reply{}, fmt.Errorf("resp: bulk length %q", clip(body))
		}
		if n == -1 {
			rep.Nil = true
			return rep, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return Reply{}, fmt.Errorf("resp: bulk of %d bytes: %w", n, err)
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return Reply{}, errors.New("resp: bulk string not ended by CRLF")
		}
		rep.Str = buf[:n]
	case '*':
		n, err := strconv.ParseInt(string(body), 10, 64)
		if err != nil || n < -1 || n > maxArray {
			return Reply{}, fmt.Errorf("resp: array length %q", clip(body))
		}
		if n == -1 {
			rep.Nil = true
			return rep, nil
		}
		// Grown as elements arrive, not from the length a server claims.
		for i := int64(0); i < n; i++ {
			e, err := readReply(r, depth+1)
			if err != nil {
				return Reply{}, err
			}
			rep.Array = append(rep.Array, e)
		}
	default:
		return Reply{}, fmt.Errorf("resp: unknown reply type %q", rep.Kind)
	}
	return rep, nil
}

// readLine reads up to CRLF and returns the line without it.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		line = append(line, frag...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("resp: read: %w", err)
		}
		if len(line) > maxLineSize {
			return nil, fmt.Errorf("resp: line longer than %d bytes", maxLineSize)
		}
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errors.New("resp: line not ended by CRLF")
	}
	return line[:len(line)-2], nil
}

func clip(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "..."
	}
	return string(b)
}

// AppendCommand appends args as a RESP array of bulk strings.
func AppendCommand(buf []byte, args ...[]byte) []byte {
	buf = append(buf, '*')
	buf = strconv.AppendInt(buf, int64(len(args)), 10)
	buf = append(buf, '\r', '\n')
	for _, a := range args {
		buf = append(buf, '$')
		buf = strconv.AppendInt(buf, int64(len(a)), 10)
		buf = append(buf, '\r', '\n')
		buf = append(buf, a...)
		buf = append(buf, '\r', '\n')
	}
	return buf
}

// RedisConn is one connection to a Redis server. It is not safe for
// concurrent use. After any error it is broken: the caller closes it.
type RedisConn struct {
	c   net.Conn
	r   *bufio.Reader
	out []byte
}

// Dialer opens a TCP connection, as net.Dialer.DialContext or
// lab.Lab.Dial from a lab member do.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// DialRedis connects to addr (host:port) with dial (nil: from here),
// within ctx.
func DialRedis(ctx context.Context, dial Dialer, addr string) (*RedisConn, error) {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial redis %s: %w", addr, err)
	}
	return &RedisConn{c: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// Close closes the connection.
func (c *RedisConn) Close() error { return c.c.Close() }

// Do sends one command and reads its reply, within ctx's deadline (or
// fallback from now, when ctx has none). An error reply is returned as
// a RedisError, with the reply.
func (c *RedisConn) Do(ctx context.Context, fallback time.Duration, args ...[]byte) (Reply, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(fallback)
	}
	if err := c.c.SetDeadline(deadline); err != nil {
		return Reply{}, err
	}
	// A context cancelled before the deadline ends the exchange at once.
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.out = AppendCommand(c.out[:0], args...)
	if _, err := c.c.Write(c.out); err != nil {
		return Reply{}, fmt.Errorf("redis %s: send: %w", args[0], err)
	}
	rep, err := ReadReply(c.r)
	if err != nil {
		return Reply{}, fmt.Errorf("redis %s: %w", args[0], err)
	}
	if rep.Kind == '-' {
		return rep, RedisError(rep.Str)
	}
	return rep, nil
}

// Strs turns string arguments into a command's.
func Strs(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, a := range s {
		out[i] = []byte(a)
	}
	return out
}
