package qbipc

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// responseSlice bounds one wait on the response ring's semaphore, so that a
// server that went away, or ctx's end, is noticed within it.
const responseSlice = 100 * time.Millisecond

// ReceiveResponse waits until the server answers a request on the response
// ring and returns the answer. Pacemaker's daemons answer a request whose
// header asks for a reply (crm_ipc_client_response) there: attrd's query
// and the "ack" of its other requests. The server commits the chunk and
// posts the ring's semaphore, and writes nothing on the socket
// (qb_ipcs_response_sendv); libqb's client waits on that semaphore
// (qb_ipcc_recv, sem_timedwait), and so does this.
func (c *Conn) ReceiveResponse(ctx context.Context) ([]byte, error) {
	for {
		if c.response.semTryWait() {
			msg, ok := c.response.read()
			if !ok {
				return nil, errors.New("qbipc: response ring signalled with no chunk in it")
			}
			return msg, nil
		}
		wait := responseSlice
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		if err := ctx.Err(); err != nil || wait <= 0 {
			// The deadline may have passed before ctx noticed: its
			// cause is nil until it does.
			cause := context.Cause(ctx)
			if cause == nil {
				cause = context.DeadlineExceeded
			}
			return nil, fmt.Errorf("qbipc: wait for a response: %w", cause)
		}
		if c.response.semWait(wait) {
			msg, ok := c.response.read()
			if !ok {
				return nil, errors.New("qbipc: response ring signalled with no chunk in it")
			}
			return msg, nil
		}
		if c.serverGone() {
			return nil, ErrClosed
		}
	}
}

// serverGone reports whether the server closed the connection: its end of
// the socket is shut, or it let go of the rings.
func (c *Conn) serverGone() bool {
	if ref := atomic.LoadInt32((*int32)(unsafe.Pointer(&c.response.hdr[offRefCount]))); ref != 2 {
		return true
	}
	fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	if err != nil || n == 0 {
		return false
	}
	if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
		return true
	}
	// Readable: a wake-up byte for an event, or the end of the stream,
	// which a peek tells apart without taking the byte.
	var b [1]byte
	k, _, err := unix.Recvfrom(c.fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == nil && k == 0
}

// semWait waits at most d for the semaphore to be posted and takes it, as
// glibc's sem_timedwait does on a 64-bit target: it counts itself as a
// waiter in the high half of the word (so that sem_post wakes it), sleeps
// on the futex while the value is 0, and takes one from the value and
// itself from the waiters in one step.
func (r *ring) semWait(d time.Duration) bool {
	p := r.sem()
	deadline := time.Now().Add(d)
	const waiter = 1 << 32
	v := atomic.AddUint64(p, waiter)
	for {
		if uint32(v) == 0 {
			left := time.Until(deadline)
			if left <= 0 {
				atomic.AddUint64(p, ^uint64(waiter-1)) // -waiter
				return false
			}
			ts := unix.NsecToTimespec(left.Nanoseconds())
			// EAGAIN (posted meanwhile), EINTR and ETIMEDOUT all
			// come back to the value.
			_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(p)), r.futexOp(futexWait),
				0, uintptr(unsafe.Pointer(&ts)), 0, 0)
			v = atomic.LoadUint64(p)
			continue
		}
		if atomic.CompareAndSwapUint64(p, v, v-1-waiter) {
			return true
		}
		v = atomic.LoadUint64(p)
	}
}
