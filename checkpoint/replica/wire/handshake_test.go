package wire

import (
	"context"
	"net"
	"testing"
)

// TestDeadlineCleared: once a handshake's stop has run, cancelling its
// context leaves the connection usable (the goroutine that cancels the
// handshake's I/O used to set a past deadline after stop cleared it, when
// it had not run yet).
func TestDeadlineCleared(t *testing.T) {
	for i := 0; i < 2000; i++ {
		a, b := net.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		stop := deadline(ctx, a)
		stop()
		cancel()
		go b.Read(make([]byte, 1))
		if _, err := a.Write([]byte{1}); err != nil {
			t.Fatalf("round %d: a write after the handshake ended: %v", i, err)
		}
		a.Close()
		b.Close()
	}
}
