package neigh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Conn is a packet socket on one interface, for both families. It sends
// whole Ethernet frames, and receives ARP and neighbour discovery frames
// only while Probe listens: the rest of the time the kernel delivers it
// nothing, so a Conn kept open (or handed to a child with File) costs the
// interface nothing. A Conn is not safe for concurrent use.
type Conn struct {
	pc      *packet.Conn
	ifindex int
}

// Open opens a packet socket on the interface with index ifindex. The
// socket belongs to the network namespace of the calling thread: a caller
// that wants another namespace locks its thread and switches it before.
func Open(ifindex int) (*Conn, error) {
	filter, err := bpf.Assemble(neighbourFilter)
	if err != nil {
		return nil, fmt.Errorf("assemble socket filter: %w", err)
	}
	// Protocol 0 binds the socket to the interface without receiving
	// anything; Probe switches reception on for its duration. Only Index is
	// used, so there is no need to look the interface up.
	pc, err := packet.Listen(&net.Interface{Index: ifindex}, packet.Raw, 0, &packet.Config{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("open packet socket on interface %d: %w", ifindex, err)
	}
	return &Conn{pc: pc, ifindex: ifindex}, nil
}

// neighbourFilter keeps incoming ARP, neighbour solicitations and
// neighbour advertisements (without IPv6 extension headers, which neighbour
// discovery never uses), and drops everything else, our own outgoing
// frames included, before the kernel queues it.
var neighbourFilter = []bpf.Instruction{
	bpf.LoadExtension{Num: bpf.ExtType},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 8},
	bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_ARP, SkipTrue: 7},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.ETH_P_IPV6, SkipTrue: 5},
	bpf.LoadAbsolute{Off: 14 + 6, Size: 1}, // next header
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: protoICMPv6, SkipTrue: 3},
	bpf.LoadAbsolute{Off: 14 + ipv6HeaderLen, Size: 1}, // ICMPv6 type
	bpf.JumpIf{Cond: bpf.JumpLessThan, Val: 135, SkipTrue: 1},
	bpf.JumpIf{Cond: bpf.JumpLessOrEqual, Val: 136, SkipTrue: 1},
	bpf.RetConstant{Val: 0},
	bpf.RetConstant{Val: 1 << 16},
}

// listen switches reception on (ETH_P_ALL, narrowed by the filter) or off
// (protocol 0) by binding the socket again: the kernel hooks a packet
// socket into the receive path only while its protocol is non-zero.
func (c *Conn) listen(on bool) error {
	proto := uint16(0)
	if on {
		proto = htons(unix.ETH_P_ALL)
	}
	rc, err := c.pc.SyscallConn()
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	var berr error
	err = rc.Control(func(fd uintptr) {
		berr = unix.Bind(int(fd), &unix.SockaddrLinklayer{Protocol: proto, Ifindex: c.ifindex})
	})
	if err == nil {
		err = berr
	}
	if err != nil {
		return fmt.Errorf("bind packet socket to protocol %#x: %w", proto, err)
	}
	return nil
}

// drain drops what is still queued on the socket, so that frames left
// from one Probe never count in the next.
func (c *Conn) drain() {
	rc, err := c.pc.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 1)
	_ = rc.Control(func(fd uintptr) {
		for {
			if _, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT); err != nil {
				return
			}
		}
	})
}

// htons puts a 16-bit value in network byte order in memory, as
// sll_protocol wants it.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Send sends each frame, in order, as it is: whole Ethernet frames without
// the frame check sequence, as Announcement returns them.
func (c *Conn) Send(frames [][]byte) error {
	rc, err := c.pc.SyscallConn()
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	return writeFrames(rc, frames)
}

// SendFile sends frames on a socket that File returned, as a child process
// given it can. The child may as well write(2) each frame itself.
//
// Such a socket lives through link flaps: when its link goes down, the
// kernel leaves ENETDOWN pending on it, which would fail the first frame
// sent after the link came back. SendFile drops that error first (reading
// SO_ERROR clears it); a link that is still down fails the send anew.
func SendFile(f *os.File, frames [][]byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("packet socket %s: %w", f.Name(), err)
	}
	if err := rc.Control(func(fd uintptr) {
		_, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
	}); err != nil {
		return fmt.Errorf("packet socket %s: %w", f.Name(), err)
	}
	return writeFrames(rc, frames)
}

// writeFrames writes each frame with write(2), which a bound packet socket
// sends on its interface. The socket is non-blocking; rc waits when the
// send buffer is full.
func writeFrames(rc interface {
	Write(func(fd uintptr) bool) error
}, frames [][]byte) error {
	for i, f := range frames {
		var n int
		var werr error
		err := rc.Write(func(fd uintptr) bool {
			n, werr = unix.Write(int(fd), f)
			return !errors.Is(werr, unix.EAGAIN)
		})
		if err == nil {
			err = werr
		}
		if err == nil && n != len(f) {
			err = fmt.Errorf("wrote %d of %d bytes", n, len(f))
		}
		if err != nil {
			return fmt.Errorf("send frame %d of %d: %w", i+1, len(frames), err)
		}
	}
	return nil
}

// File returns a duplicate of the socket, for a child process to inherit
// through exec.Cmd.ExtraFiles and write(2) whole frames to. The duplicate
// shares the socket: its binding to the interface and namespace, and its
// non-blocking mode, so a child writing a burst larger than the send buffer
// gets EAGAIN (SendFile waits instead). Closing it does not close c.
func (c *Conn) File() (*os.File, error) {
	rc, err := c.pc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	var nfd int
	var derr error
	err = rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, fmt.Errorf("duplicate packet socket: %w", err)
	}
	return os.NewFile(uintptr(nfd), fmt.Sprintf("packet socket on interface %d", c.ifindex)), nil
}

// Close closes the socket. Duplicates from File stay open.
func (c *Conn) Close() error {
	if err := c.pc.Close(); err != nil {
		return fmt.Errorf("close packet socket: %w", err)
	}
	return nil
}

// Probe checks whether another host holds ip. It sends count probes (an
// ARP probe for IPv4, a duplicate address detection neighbour solicitation
// for IPv6), the first at once and the others spread evenly over wait, and
// listens until wait has passed. It returns the hardware address of the
// first other holder that answers or probes for ip itself (see Conflict),
// or nil if none did. hw must be the interface's own address: Linux
// answers an ARP probe by unicast to it. If ctx ends first, Probe returns
// ctx's error.
func (c *Conn) Probe(ctx context.Context, ip netip.Addr, hw net.HardwareAddr, count int, wait time.Duration) (net.HardwareAddr, error) {
	ip, err := checkArgs(ip, hw)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	if count < 1 {
		return nil, fmt.Errorf("probe %s: %d probes; want at least 1", ip, count)
	}
	probe, err := probeFrame(ip, hw)
	if err != nil {
		return nil, fmt.Errorf("probe %s: %w", ip, err)
	}
	if ip.Is6() {
		// Answers go to all nodes, a simultaneous probe to the
		// solicited-node group: make sure the interface passes both up
		// even if no address of its own joined them.
		_, snmHW := solicitedNode(ip)
		for _, g := range []net.HardwareAddr{allNodesHW, snmHW} {
			if err := c.pc.JoinGroup(g); err != nil {
				return nil, fmt.Errorf("probe %s: join %s: %w", ip, g, err)
			}
			defer c.pc.LeaveGroup(g)
		}
	}
	if err := c.listen(true); err != nil {
		return nil, fmt.Errorf("probe %s: %w", ip, err)
	}
	defer c.drain()
	defer c.listen(false)
	defer c.pc.SetReadDeadline(time.Time{})
	// Cancelling ctx cuts the current read short; the loop checks ctx
	// after setting each deadline, so a cancellation is never overwritten.
	stop := context.AfterFunc(ctx, func() { c.pc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	start := time.Now()
	end := start.Add(wait)
	buf := make([]byte, 1<<14)
	for sent := 0; ; {
		now := time.Now()
		next := end
		if sent < count {
			next = start.Add(wait * time.Duration(sent) / time.Duration(count))
			if !now.Before(next) {
				if err := c.Send([][]byte{probe}); err != nil {
					return nil, fmt.Errorf("probe %s: %w", ip, err)
				}
				sent++
				continue
			}
		} else if !now.Before(end) {
			return nil, nil
		}
		if err := c.pc.SetReadDeadline(next); err != nil {
			return nil, fmt.Errorf("probe %s: %w", ip, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("probe %s: %w", ip, err)
		}
		n, _, err := c.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return nil, fmt.Errorf("probe %s: receive: %w", ip, err)
		}
		if holder, ok := Conflict(buf[:n], ip, hw); ok {
			return holder, nil
		}
	}
}
