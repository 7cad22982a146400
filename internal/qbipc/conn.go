// Package qbipc is a client of libqb's IPC, the local transport every
// Pacemaker daemon serves its clients on (crmd, cib_rw, attrd, ...), as
// libqb 2.0 speaks it on Linux: a stream socket in the abstract namespace
// for the handshake and for wake-ups, and shared-memory rings under
// /dev/shm for the messages.
//
// It exists so that the vnfc agent's supervisor can tell the controller of
// a failure without exec'ing crm_resource, whose start-up alone (43 shared
// libraries, a CIB query and a full unpack of the cluster state) costs
// tens of milliseconds, and so that vnfc's monitor can ask attrd for its
// promotion score without a fork. It speaks only what that needs: connect
// (to a server run by root or hacluster only, auth.go), send a request,
// receive events and responses, disconnect. Messages are opaque bytes
// here; Pacemaker's framing is internal/pcmkipc's, the requests are
// internal/controld's and internal/attrd's.
package qbipc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// libqb's wire constants (include/qb/qbipc_common.h, lib/ipc_int.h).
const (
	msgAuthenticate = -1
	typeSHM         = 1 // enum qb_ipc_type: QB_IPC_SOCKET, QB_IPC_SHM, ...

	// connectRequestSize is sizeof(struct qb_ipc_connection_request): a
	// request header (id and size, each 8-aligned) and max_msg_size.
	connectRequestSize = 24
	// connectResponseSize is sizeof(struct qb_ipc_connection_response): a
	// response header (id, size, error, each 8-aligned), connection_type,
	// max_msg_size, connection (intptr_t) and three PATH_MAX ring names.
	connectResponseSize = 24 + 4 + 4 + 8 + 3*pathMax
)

// supported: the offsets and glibc's semaphore layout in ring.go are those
// of 64-bit little-endian Linux.
const supported = runtime.GOOS == "linux" && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64")

// ErrClosed is returned when the server closed the connection.
var ErrClosed = errors.New("qbipc: connection closed by the server")

// Conn is a connection to one libqb IPC server. It is not safe for
// concurrent use: one goroutine sends and receives.
type Conn struct {
	fd                       int
	request, response, event *ring
	// MaxMsgSize is the largest message the server takes, as it
	// answered the handshake.
	MaxMsgSize uint32

	// wake is an eventfd that ends a wait when its context ends (made at
	// the first wait), so that a wait sleeps in one poll until then.
	wake    int
	hasWake bool
	polls   int // poll(2) calls made while waiting, for tests
}

// Dial connects to the libqb IPC server named service (e.g. "crmd"), with
// maxMsgSize as this client's wish for the message size (the server takes
// the larger of its own and this). ctx bounds the handshake.
func Dial(ctx context.Context, service string, maxMsgSize uint32) (*Conn, error) {
	if !supported {
		return nil, fmt.Errorf("qbipc: the ring layout is known for 64-bit little-endian Linux only, not %s", runtime.GOARCH)
	}
	// Non-blocking, as libqb's own: every wait goes through poll, which
	// honours ctx, and consuming a wake-up byte that has not arrived yet
	// must not block.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("qbipc: socket: %w", err)
	}
	c := &Conn{fd: fd}
	if err := c.handshake(ctx, service, maxMsgSize); err != nil {
		c.Close()
		return nil, fmt.Errorf("qbipc: connect to %s: %w", service, err)
	}
	return c, nil
}

func (c *Conn) handshake(ctx context.Context, service string, maxMsgSize uint32) error {
	if err := connectService(c.fd, service); err != nil {
		return err
	}
	// Before anything is sent, and before any file the server names is
	// opened: the server must be Pacemaker's (checkServer).
	if err := checkServer(c.fd); err != nil {
		return err
	}
	// With SO_PASSCRED set on our side before we write, the kernel
	// attaches our credentials to the request, which the server checks.
	if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		return err
	}
	req := make([]byte, connectRequestSize)
	id := int32(msgAuthenticate)
	binary.LittleEndian.PutUint32(req[0:], uint32(id))
	binary.LittleEndian.PutUint32(req[8:], connectRequestSize)
	binary.LittleEndian.PutUint32(req[16:], maxMsgSize)
	if err := c.writeAll(ctx, req); err != nil {
		return fmt.Errorf("send handshake: %w", err)
	}
	resp := make([]byte, connectResponseSize)
	if err := c.readFull(ctx, resp); err != nil {
		return fmt.Errorf("read handshake: %w", err)
	}
	_ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 0)
	maxSize, rings, err := parseConnectResponse(resp)
	if err != nil {
		return err
	}
	c.MaxMsgSize = maxSize
	for i, r := range []**ring{&c.request, &c.response, &c.event} {
		if *r, err = openRing(rings[i]); err != nil {
			return err
		}
	}
	return nil
}

// parseConnectResponse reads the server's struct
// qb_ipc_connection_response: its verdict, the message size, and the names
// of the request, response and event rings.
func parseConnectResponse(resp []byte) (maxMsgSize uint32, rings [3]string, err error) {
	if len(resp) != connectResponseSize {
		return 0, rings, fmt.Errorf("handshake answer of %d bytes, want %d", len(resp), connectResponseSize)
	}
	if id := int32(binary.LittleEndian.Uint32(resp[0:])); id != msgAuthenticate {
		return 0, rings, fmt.Errorf("handshake answered with message id %d", id)
	}
	if e := int32(binary.LittleEndian.Uint32(resp[16:])); e != 0 {
		return 0, rings, fmt.Errorf("server refused: %w", unix.Errno(-e))
	}
	if t := binary.LittleEndian.Uint32(resp[24:]); t != typeSHM {
		return 0, rings, fmt.Errorf("server offers connection type %d; only shared memory (%d) is supported", t, typeSHM)
	}
	names := resp[40:]
	for i := range rings {
		rings[i] = cString(names[i*pathMax : (i+1)*pathMax])
		if !strings.HasPrefix(rings[i], "/") {
			return 0, rings, fmt.Errorf("handshake names ring %q, not an absolute path", rings[i])
		}
	}
	return binary.LittleEndian.Uint32(resp[28:]), rings, nil
}

// forceFilesystemSockets is the file that tells libqb, on both ends, to
// use sockets in a directory fixed when libqb was built (SOCKETDIR: /tmp
// in Debian's libqb, /var/run by default) instead of abstract names.
var forceFilesystemSockets = "/etc/libqb/force-filesystem-sockets"

// ErrFilesystemSockets is wrapped by Dial's error on a host where libqb is
// told to use filesystem sockets, which this client does not reach: their
// directory is a build option of libqb's, which differs from one
// distribution to the next.
var ErrFilesystemSockets = errors.New("libqb uses filesystem sockets here, which this client does not speak")

// connectService connects to the server's socket as libqb does on Linux:
// an abstract name, unless libqb is told otherwise.
func connectService(fd int, name string) error {
	if _, err := os.Stat(forceFilesystemSockets); err == nil {
		return fmt.Errorf("%w (%s exists)", ErrFilesystemSockets, forceFilesystemSockets)
	}
	return connectAbstract(fd, name)
}

// connectAbstract connects to the abstract socket name as libqb binds it:
// the whole of sun_path, NUL-padded, is the name, so the address must be
// exactly as long as struct sockaddr_un, which x/sys/unix cannot express
// (it counts the name's length only).
func connectAbstract(fd int, name string) error {
	var sa unix.RawSockaddrUnix
	if len(name)+1 > len(sa.Path) {
		return fmt.Errorf("service name %q too long", name)
	}
	sa.Family = unix.AF_UNIX
	for i := 0; i < len(name); i++ {
		sa.Path[i+1] = int8(name[i])
	}
	for {
		_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

// readFull reads len(b) bytes.
func (c *Conn) readFull(ctx context.Context, b []byte) error {
	for got := 0; got < len(b); {
		if err := c.wait(ctx, unix.POLLIN); err != nil {
			return err
		}
		n, err := unix.Read(c.fd, b[got:])
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrClosed
		}
		got += n
	}
	return nil
}

func (c *Conn) writeAll(ctx context.Context, b []byte) error {
	for len(b) > 0 {
		n, err := unix.SendmsgN(c.fd, b, nil, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			if err := c.wait(ctx, unix.POLLOUT); err != nil {
				return err
			}
			continue
		}
		if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
			return ErrClosed
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// wait polls the socket for events until ctx ends. It sleeps in one poll
// until then: a cancelled context wakes it through an eventfd, and a
// deadline is the poll's timeout. An idle client (the bridge's CIB source
// waits for notifications for up to its resync interval) costs nothing
// between events; waking up every so often to look at ctx would be
// polling faster than the resync, which the issue forbids.
func (c *Conn) wait(ctx context.Context, events int16) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !c.hasWake {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return fmt.Errorf("eventfd: %w", err)
		}
		c.wake, c.hasWake = fd, true
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(c.wake, one[:])
	})
	defer func() {
		if !stop() {
			// The wake-up ran or runs: let it finish before the
			// eventfd can be used again or closed, and take its count
			// so that the next wait does not see it.
			<-fired
			var b [8]byte
			_, _ = unix.Read(c.wake, b[:])
		}
	}()
	for {
		ms := -1
		if dl, ok := ctx.Deadline(); ok {
			left := time.Until(dl)
			if left <= 0 {
				return context.DeadlineExceeded
			}
			// Rounded up: a timeout rounded down would wake just
			// before the deadline and spin through the last
			// millisecond.
			ms = int(min((left+time.Millisecond-1)/time.Millisecond, 1<<31-1))
		}
		fds := []unix.PollFd{{Fd: int32(c.fd), Events: events}, {Fd: int32(c.wake), Events: unix.POLLIN}}
		c.polls++
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		if fds[0].Revents&events != 0 {
			return nil
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			return ErrClosed
		}
	}
}

// Send puts msg on the request ring and wakes the server with one byte on
// the socket, as qb_ipcc_sendv does for a shared-memory connection. A
// server that asked for flow control, or whose ring is full, gets retried
// until ctx ends.
func (c *Conn) Send(ctx context.Context, msg []byte) error {
	if uint64(len(msg)) > uint64(c.MaxMsgSize) {
		return fmt.Errorf("qbipc: message of %d bytes exceeds the server's %d", len(msg), c.MaxMsgSize)
	}
	for {
		err := c.trySend(msg)
		if !errors.Is(err, errFull) && !errors.Is(err, errFlowControl) {
			if err != nil {
				return err
			}
			return c.writeAll(ctx, []byte{0})
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("qbipc: send: %w", err)
		case <-time.After(time.Millisecond):
		}
	}
}

var errFlowControl = errors.New("server asked for flow control")

func (c *Conn) trySend(msg []byte) error {
	// The request ring's user data is the server's flow-control flag;
	// a reference count other than 2 means the server let go of it.
	if ref := int32(*r32(c.request.hdr, offRefCount)); ref != 2 {
		return ErrClosed
	}
	if fc := int32(*r32(c.request.hdr, offUserData)); fc > 0 {
		return errFlowControl
	}
	return c.request.write(msg)
}

// ReceiveEvent waits until the server sends an event (what Pacemaker's
// daemons send their clients' replies and notifications as) and returns
// it. The server commits the chunk to the event ring, then writes a
// wake-up byte to the socket; the byte is consumed with the chunk.
func (c *Conn) ReceiveEvent(ctx context.Context) ([]byte, error) {
	for {
		if msg, ok := c.takeEvent(); ok {
			return msg, nil
		}
		if err := c.wait(ctx, unix.POLLIN); err != nil {
			return nil, fmt.Errorf("qbipc: receive: %w", err)
		}
		if msg, ok := c.takeEvent(); ok {
			return msg, nil
		}
		// Readable with no event: the end of the stream, or a byte
		// that woke us for something else (dropped).
		var b [1]byte
		if n, err := unix.Read(c.fd, b[:]); err == nil && n == 0 {
			return nil, ErrClosed
		}
	}
}

// PollEvent returns an event that is already on the event ring, without
// waiting: a client that follows a stream of events drains what came in
// while it was busy, and handles the burst as one.
func (c *Conn) PollEvent() ([]byte, bool) { return c.takeEvent() }

func (c *Conn) takeEvent() ([]byte, bool) {
	msg, ok := c.event.read()
	if ok {
		c.event.semTryWait()
		var b [1]byte
		_, _ = unix.Read(c.fd, b[:])
	}
	return msg, ok
}

// Close disconnects as libqb's client does: the socket first, then the
// rings.
func (c *Conn) Close() error {
	if c.fd >= 0 {
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
		_ = unix.Close(c.fd)
		c.fd = -1
	}
	if c.hasWake {
		_ = unix.Close(c.wake)
		c.hasWake = false
	}
	c.request.close()
	c.response.close()
	c.event.close()
	c.request, c.response, c.event = nil, nil, nil
	return nil
}
