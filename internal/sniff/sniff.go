// Package sniff records the ARP and IPv6 neighbour-discovery frames seen
// on one interface, for tests that must show who announced or asked for an
// address, and when: that a client learned a new MAC from a gratuitous
// announcement rather than from its own request, or that stop silenced an
// announcer.
package sniff

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/agents/vip/neigh"
)

// Capture is one recorded frame.
type Capture struct {
	At time.Time
	neigh.Frame
}

// Sniffer records frames until the test ends.
type Sniffer struct {
	mu     sync.Mutex
	frames []Capture
	conn   *packet.Conn
	done   chan struct{}
}

// Start opens a packet socket on interface index ifindex (named name) and
// records every ARP and neighbour-discovery frame it sees, in both
// directions. do runs a function inside the interface's network namespace
// (nstest's Side.Do or lab's InNetns); the socket stays there. Recording
// stops at t's cleanup.
func Start(t testing.TB, do func(func() error) error, ifindex int, name string) *Sniffer {
	t.Helper()
	s := &Sniffer{done: make(chan struct{})}
	err := do(func() (err error) {
		s.conn, err = packet.Listen(&net.Interface{Index: ifindex, Name: name}, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err != nil {
		t.Fatalf("sniff %s: %v", name, err)
	}
	go s.read()
	t.Cleanup(func() {
		s.conn.Close()
		<-s.done
	})
	return s
}

func (s *Sniffer) read() {
	defer close(s.done)
	buf := make([]byte, 2048)
	for {
		n, _, err := s.conn.ReadFrom(buf)
		if err != nil {
			// A link that goes down reports ENETDOWN once to the packet
			// sockets bound to it, which hear it again when it comes
			// back up: a test that flaps the link keeps its recording.
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, unix.ENETDOWN) {
				continue
			}
			return // closed
		}
		f, err := neigh.Parse(buf[:n])
		if err != nil {
			continue // not ARP or neighbour discovery
		}
		s.mu.Lock()
		s.frames = append(s.frames, Capture{At: time.Now(), Frame: f})
		s.mu.Unlock()
	}
}

// Frames returns what was recorded so far, oldest first.
func (s *Sniffer) Frames() []Capture {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Capture(nil), s.frames...)
}

// Since returns the frames recorded at or after t.
func (s *Sniffer) Since(t time.Time) []Capture {
	var out []Capture
	for _, c := range s.Frames() {
		if !c.At.Before(t) {
			out = append(out, c)
		}
	}
	return out
}
