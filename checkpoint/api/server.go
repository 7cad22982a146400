package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/checkpoint"
)

// Server defaults.
const (
	DefaultSocketMode = 0o660
	// The server's timeouts. A value is at most 1 MiB by default, so a
	// minute is generous for a body; watches lift the read deadline and
	// keep pushing the write deadline themselves.
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = time.Minute
	WriteTimeout      = time.Minute
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 64 << 10
	// ShutdownGrace bounds how long a stop waits for requests in flight.
	ShutdownGrace = 5 * time.Second
)

// Config says where the API listens.
type Config struct {
	// Socket is the unix socket's path (required): the VNFCs' and the
	// agent's way in, and the only one with the control endpoints.
	Socket string
	// SocketMode is the socket's permissions (default 0660): who may
	// connect is who may write checkpoints and promote.
	SocketMode os.FileMode
	// SocketGroup is the socket's group, a name or a gid (empty: the
	// process's).
	SocketGroup string
	// Listen is an optional TCP address (host:port) for clients on other
	// hosts; never the control endpoints.
	Listen string
	// Token is the bearer token the TCP listener requires (empty: none).
	Token string
	// Handler options for both listeners (Control and Token are set per
	// listener).
	Options Options
	// Timeouts override the server's defaults (tests shorten them).
	Timeouts Timeouts
	Logger   logrus.FieldLogger
}

// Timeouts are the HTTP servers' timeouts; zero means the default
// (ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout).
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// Server is the API's listeners and their HTTP servers.
type Server struct {
	log      logrus.FieldLogger
	servers  []*http.Server
	lns      []net.Listener
	stop     context.CancelFunc
	base     context.Context
	timeouts Timeouts
}

// Listen opens the listeners (so that a bad address or a socket in use is
// an error before anything starts) and returns the server, not yet
// serving.
func Listen(r checkpoint.Replica, c Config) (*Server, error) {
	log := c.Logger
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	if c.Socket == "" {
		return nil, errors.New("api: no socket path")
	}
	if c.SocketMode == 0 {
		c.SocketMode = DefaultSocketMode
	}
	base, stop := context.WithCancel(context.Background())
	s := &Server{log: log, stop: stop, base: base, timeouts: c.Timeouts}
	ul, err := ListenUnix(c.Socket, c.SocketMode, c.SocketGroup)
	if err != nil {
		stop()
		return nil, err
	}
	o := c.Options
	o.Logger = log
	o.Control, o.Token = true, ""
	s.add(ul, NewHandler(r, o))
	if c.Listen != "" {
		tl, err := net.Listen("tcp", c.Listen)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("api: listen on %s: %w", c.Listen, err)
		}
		o.Control, o.Token = false, c.Token
		if c.Token == "" {
			log.WithField("listen", c.Listen).Warn("the TCP API has no token: anyone who reaches it may write checkpoints")
		}
		s.add(tl, NewHandler(r, o))
	}
	return s, nil
}

// logWriter turns the HTTP server's log lines into log entries.
type logWriter struct{ log logrus.FieldLogger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Warn(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (s *Server) add(l net.Listener, h http.Handler) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		// Watches end when the server stops: Shutdown alone would wait
		// for them forever (they are never idle).
		BaseContext: func(net.Listener) context.Context { return s.base },
		// The server's own complaints (a broken connection, a client
		// that speaks TLS to plain HTTP) go to the process's log.
		ErrorLog: stdlog.New(logWriter{s.log.WithField("listener", l.Addr().String())}, "", 0),
	}
	if s.timeouts.ReadHeader > 0 {
		srv.ReadHeaderTimeout = s.timeouts.ReadHeader
	}
	if s.timeouts.Read > 0 {
		srv.ReadTimeout = s.timeouts.Read
	}
	if s.timeouts.Write > 0 {
		srv.WriteTimeout = s.timeouts.Write
	}
	if s.timeouts.Idle > 0 {
		srv.IdleTimeout = s.timeouts.Idle
	}
	s.servers = append(s.servers, srv)
	s.lns = append(s.lns, l)
}

// Addrs returns the listeners' addresses (the unix socket first).
func (s *Server) Addrs() []net.Addr {
	var a []net.Addr
	for _, l := range s.lns {
		a = append(a, l.Addr())
	}
	return a
}

// Serve serves until ctx ends, then stops: new connections are refused,
// watches end, requests in flight get ShutdownGrace to finish, and the
// socket file is removed (by its listener).
func (s *Server) Serve(ctx context.Context) error {
	errs := make(chan error, len(s.servers))
	var wg sync.WaitGroup
	for i, srv := range s.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(s.lns[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("api on %s: %w", s.lns[i].Addr(), err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	s.shutdown()
	wg.Wait()
	return err
}

func (s *Server) shutdown() {
	s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
}

// Close closes the listeners without serving (after a failed start).
func (s *Server) Close() error {
	s.stop()
	for _, l := range s.lns {
		l.Close()
	}
	return nil
}

// ListenUnix listens on a unix socket at path with the given permissions
// and group. A socket file left by a server that is gone (nobody accepts
// on it) is replaced; a live one is an error (another server runs), and
// anything that is not a socket is refused and left alone: the path may
// be a mistake, and removing a user's file would be worse.
//
// The socket is bound in a private directory (0700) beside path, given
// its group and mode there, then renamed into place: under any umask it
// is never reachable with wider permissions than mode. Closing the
// listener removes the socket, if it is still this one.
func ListenUnix(path string, mode os.FileMode, group string) (net.Listener, error) {
	gid := -1
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("api socket %s: %w", path, err)
		}
		gid = g
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("api socket %s: the path exists and is not a socket (%s): refusing to replace it", path, fi.Mode().Type())
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("api socket %s: another server is listening on it", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("api socket %s: is it in use? %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("api socket %s: remove the stale socket: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("api socket %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("api socket %s: %w", path, err)
	}
	priv, err := os.MkdirTemp(dir, ".s")
	if err != nil {
		return nil, fmt.Errorf("api socket %s: %w", path, err)
	}
	defer os.RemoveAll(priv)
	tmp := filepath.Join(priv, "s")
	if len(tmp) > maxSocketPath {
		return nil, fmt.Errorf("api socket %s: the path is too long to bind safely (at most %d bytes)", path, maxSocketPath-(len(tmp)-len(path)))
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("api socket: %w", err)
	}
	l.SetUnlinkOnClose(false)
	fail := func(what string, err error) (net.Listener, error) {
		l.Close()
		return nil, fmt.Errorf("api socket %s: %s: %w", path, what, err)
	}
	if gid >= 0 {
		if err := os.Chown(tmp, -1, gid); err != nil {
			return fail("group "+group, err)
		}
	}
	if err := os.Chmod(tmp, mode.Perm()); err != nil {
		return fail(fmt.Sprintf("mode %#o", mode), err)
	}
	fi, err := os.Lstat(tmp)
	if err != nil {
		return fail("stat", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail("move into place", err)
	}
	return &unixListener{UnixListener: l, path: path, fi: fi}, nil
}

// maxSocketPath is the longest path a unix socket can be bound to
// (sun_path is 108 bytes with its NUL).
const maxSocketPath = 107

// unixListener removes its socket when it closes, unless the file at the
// path is no longer this socket (another server's, after this one
// stopped listening).
type unixListener struct {
	*net.UnixListener
	path string
	fi   os.FileInfo
	once sync.Once
}

func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, err := os.Lstat(l.path); err == nil && os.SameFile(fi, l.fi) {
			os.Remove(l.path)
		}
	})
	return err
}

func lookupGroup(name string) (int, error) {
	if g, err := user.LookupGroup(name); err == nil {
		return strconv.Atoi(g.Gid)
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	return 0, fmt.Errorf("no group %q", name)
}

// ReadTokenFile reads a bearer token: the file's content without
// surrounding white space. An empty token, one with inner white space, or
// a file that other users may read is refused; the error never quotes the
// token.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return "", fmt.Errorf("token file %s: readable by every user (mode %#o): chmod o-r it", path, fi.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	if len(data) > 4096 {
		return "", fmt.Errorf("token file %s: longer than 4096 bytes", path)
	}
	tok := strings.TrimSpace(string(data))
	switch {
	case tok == "":
		return "", fmt.Errorf("token file %s: empty", path)
	case strings.ContainsAny(tok, " \t\r\n"):
		return "", fmt.Errorf("token file %s: the token holds white space", path)
	}
	for _, r := range tok {
		if r < 0x21 || r > 0x7e {
			return "", fmt.Errorf("token file %s: the token holds a byte that cannot go in a header", path)
		}
	}
	return tok, nil
}
