// Package wire is the replication link's frame codec and handshake: how
// two replicas of the checkpoint store talk over TCP.
//
// A frame is
//
//	offset  size  field
//	0       2     magic "VC"
//	2       1     version (1)
//	3       1     type
//	4       4     payload length n (big endian, at most the connection's bound)
//	8       8     epoch: the sender's current epoch
//	16      8     sequence number: 0, 1, 2... per direction and connection
//	24      n     payload
//	24+n    4     CRC32C (Castagnoli) of bytes [0, 24+n)
//	28+n    32    HMAC-SHA256 of bytes [0, 28+n) with the direction's session key
//	              (only after a shared-key handshake; absent under mutual TLS
//	              and in the handshake's own frames)
//
// The CRC catches a torn or corrupted frame cheaply and says so plainly in
// the log; the HMAC, keyed per connection and direction, with the
// sequence number inside what it covers, makes a forged, replayed,
// reordered or cross-connection frame fail. Any bad frame ends the
// connection: the standby reconnects and resyncs from its durable
// position, so nothing is ever skipped.
//
// The handshake (shared key K, derived from the secret with HKDF-SHA256,
// info KeyInfo):
//
//	client → hello:     version, nonce_c (32 random bytes), client node
//	server → challenge: nonce_s, server node, HMAC(K, "server" | nonce_c | nonce_s | names)
//	client → proof:     HMAC(K, "client" | nonce_c | nonce_s | names)
//
// Each side checks the other's proof over its own fresh nonce (no
// replay), and the labels keep a proof from being reflected. The session
// keys, one per direction, are HKDF(K, salt nonce_c|nonce_s). Under
// mutual TLS the same three frames carry the names without proofs, and
// TLS does the authentication (certificates signed by the configured CA,
// the client's with the clientAuth extended key usage).
package wire

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"sync"
	"time"
)

// Version is the frame format's version.
const Version = 1

// Sizes of the frame's parts.
const (
	HeaderSize = 24
	crcSize    = 4
	MACSize    = sha256.Size
)

// DefaultMaxPayload bounds a frame's payload unless the connection says
// otherwise: a batch of entries (bounded by the primary's MaxBatchBytes)
// or a snapshot chunk. A larger length in a header is refused before
// anything is allocated.
const DefaultMaxPayload = 80 << 20

var magic = [2]byte{'V', 'C'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Type is what a frame carries.
type Type uint8

// Frame types. The handshake's (Hello, Challenge, Proof) come first on
// every connection; then either a status request and its answer, or a
// follow request and the replication stream.
const (
	// THello opens a connection (client → server): version, nonce, node.
	THello Type = iota + 1
	// TChallenge answers it (server → client): nonce, node, proof.
	TChallenge
	// TProof ends the handshake (client → server): the client's proof.
	TProof
	// TStatusRequest asks a peer for its Status; TStatus answers.
	TStatusRequest
	TStatus
	// TFollow asks the primary for its stream (standby → primary), with
	// the standby's position; TFollowOK accepts and says how the
	// catch-up goes (entries or a snapshot).
	TFollow
	TFollowOK
	// TEntries carries a batch of entries (primary → standby).
	TEntries
	// TSnapshotBegin, TSnapshotChunk and TSnapshotEnd carry a snapshot.
	TSnapshotBegin
	TSnapshotChunk
	TSnapshotEnd
	// TAck: the standby has made every entry up to a revision durable.
	TAck
	// TState tells a standby whether it is caught up and in the
	// synchronous set.
	TState
	// THeartbeat keeps an idle stream alive (either way).
	THeartbeat
	// TError ends a connection with a reason.
	TError
	// TFetch asks a peer, whatever its role, for the entries after the
	// asker's position (a Follow payload): a replica being promoted
	// takes what a fresher standby holds. It is answered as TFollow is
	// (TFollowOK in entries mode, TEntries up to the announced position)
	// or with TError.
	TFetch
	typeEnd
)

var typeNames = [...]string{
	THello: "hello", TChallenge: "challenge", TProof: "proof",
	TStatusRequest: "status-request", TStatus: "status",
	TFollow: "follow", TFollowOK: "follow-ok", TEntries: "entries",
	TSnapshotBegin: "snapshot-begin", TSnapshotChunk: "snapshot-chunk", TSnapshotEnd: "snapshot-end",
	TAck: "ack", TState: "state", THeartbeat: "heartbeat", TError: "error",
	TFetch: "fetch",
}

func (t Type) String() string {
	if t > 0 && t < typeEnd {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Frame is one decoded frame.
type Frame struct {
	Type    Type
	Epoch   uint64
	Payload []byte
}

// FrameError is a frame that cannot be trusted: corrupt, forged, out of
// sequence, too large, or not what the protocol allows there. The
// connection that carried it must be dropped.
type FrameError struct {
	Peer   string // the remote address
	Reason string
}

func (e *FrameError) Error() string {
	if e.Peer == "" {
		return "bad frame: " + e.Reason
	}
	return "bad frame from " + e.Peer + ": " + e.Reason
}

// IsFrameError reports whether err is (or wraps) a *FrameError.
func IsFrameError(err error) bool {
	var fe *FrameError
	return errors.As(err, &fe)
}

// Conn is an established replication connection. Send and Recv may be
// called from different goroutines; Send is safe for concurrent use,
// Recv is not (one reader).
type Conn struct {
	nc net.Conn
	r  *bufio.Reader

	// Peer is the node the handshake authenticated at the other end.
	Peer string
	// MaxPayload bounds the payloads Recv accepts.
	MaxPayload int

	wmu     sync.Mutex
	w       *bufio.Writer
	sendMAC hash.Hash // nil: no MAC (TLS, or the handshake)
	sendSeq uint64
	wbuf    []byte

	recvMAC hash.Hash
	recvSeq uint64
	hdr     [HeaderSize]byte
}

func newConn(nc net.Conn) *Conn {
	return &Conn{
		nc:         nc,
		r:          bufio.NewReaderSize(nc, 64<<10),
		w:          bufio.NewWriterSize(nc, 64<<10),
		MaxPayload: DefaultMaxPayload,
	}
}

// NewPlainConn wraps nc without a handshake or MACs: for tests of the
// codec and for fuzzing it. Never use it on the network.
func NewPlainConn(nc net.Conn) *Conn { return newConn(nc) }

// setKeys installs the per-direction session keys.
func (c *Conn) setKeys(send, recv []byte) {
	c.sendMAC = hmac.New(sha256.New, send)
	c.recvMAC = hmac.New(sha256.New, recv)
}

// RemoteAddr is the other end's address, for logs.
func (c *Conn) RemoteAddr() string { return c.nc.RemoteAddr().String() }

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// SetDeadline sets the read and write deadline of the connection.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// Send writes one frame and flushes it.
func (c *Conn) Send(f Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.write(f); err != nil {
		return err
	}
	return c.w.Flush()
}

// SendBatch writes several frames with one flush (one system call when
// they fit the buffer).
func (c *Conn) SendBatch(fs []Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, f := range fs {
		if err := c.write(f); err != nil {
			return err
		}
	}
	return c.w.Flush()
}

func (c *Conn) write(f Frame) error {
	if len(f.Payload) > DefaultMaxPayload {
		return fmt.Errorf("frame %s of %d bytes: over the %d-byte bound", f.Type, len(f.Payload), DefaultMaxPayload)
	}
	n := len(f.Payload)
	b := c.wbuf[:0]
	b = append(b, magic[0], magic[1], Version, byte(f.Type))
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint64(b, f.Epoch)
	b = binary.BigEndian.AppendUint64(b, c.sendSeq)
	crc := crc32.Update(crc32.Checksum(b, castagnoli), castagnoli, f.Payload)
	var tail [crcSize + MACSize]byte
	binary.BigEndian.PutUint32(tail[:crcSize], crc)
	tl := crcSize
	if c.sendMAC != nil {
		c.sendMAC.Reset()
		c.sendMAC.Write(b)
		c.sendMAC.Write(f.Payload)
		c.sendMAC.Write(tail[:crcSize])
		c.sendMAC.Sum(tail[crcSize:crcSize])
		tl += MACSize
	}
	c.wbuf = b
	c.sendSeq++
	if _, err := c.w.Write(b); err != nil {
		return fmt.Errorf("send %s: %w", f.Type, err)
	}
	if _, err := c.w.Write(f.Payload); err != nil {
		return fmt.Errorf("send %s: %w", f.Type, err)
	}
	if _, err := c.w.Write(tail[:tl]); err != nil {
		return fmt.Errorf("send %s: %w", f.Type, err)
	}
	return nil
}

// Recv reads the next frame. A frame that fails any check returns a
// *FrameError (drop the connection); an I/O error is returned wrapped.
func (c *Conn) Recv() (Frame, error) {
	if _, err := io.ReadFull(c.r, c.hdr[:]); err != nil {
		return Frame{}, c.ioErr(err)
	}
	h := c.hdr[:]
	if h[0] != magic[0] || h[1] != magic[1] {
		return Frame{}, c.bad("no frame magic (got %#x %#x): not a replication peer, or the stream is out of step", h[0], h[1])
	}
	if h[2] != Version {
		return Frame{}, c.bad("frame version %d, this replica speaks %d", h[2], Version)
	}
	t := Type(h[3])
	if t == 0 || t >= typeEnd {
		return Frame{}, c.bad("unknown frame type %d", h[3])
	}
	n := binary.BigEndian.Uint32(h[4:8])
	if int64(n) > int64(c.MaxPayload) {
		return Frame{}, c.bad("%s frame of %d bytes: over the %d-byte bound", t, n, c.MaxPayload)
	}
	epoch := binary.BigEndian.Uint64(h[8:16])
	seq := binary.BigEndian.Uint64(h[16:24])
	tl := crcSize
	if c.recvMAC != nil {
		tl += MACSize
	}
	buf := make([]byte, int(n)+tl)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return Frame{}, c.ioErr(err)
	}
	payload, tail := buf[:n], buf[n:]
	crc := crc32.Update(crc32.Checksum(h, castagnoli), castagnoli, payload)
	if got := binary.BigEndian.Uint32(tail[:crcSize]); got != crc {
		return Frame{}, c.bad("%s frame: CRC32C %08x, computed %08x (corrupt)", t, got, crc)
	}
	if c.recvMAC != nil {
		c.recvMAC.Reset()
		c.recvMAC.Write(h)
		c.recvMAC.Write(payload)
		c.recvMAC.Write(tail[:crcSize])
		var sum [MACSize]byte
		if !hmac.Equal(c.recvMAC.Sum(sum[:0]), tail[crcSize:]) {
			return Frame{}, c.bad("%s frame: HMAC does not match (forged, or another key)", t)
		}
	}
	// Checked after the MAC so that the log says "forged" rather than
	// "out of sequence" for a frame the key did not make.
	if seq != c.recvSeq {
		return Frame{}, c.bad("%s frame: sequence %d, expected %d (replayed or reordered)", t, seq, c.recvSeq)
	}
	c.recvSeq++
	return Frame{Type: t, Epoch: epoch, Payload: payload}, nil
}

func (c *Conn) bad(format string, args ...any) error {
	return &FrameError{Peer: c.RemoteAddr(), Reason: fmt.Sprintf(format, args...)}
}

func (c *Conn) ioErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("receive from %s: connection closed mid-frame: %w", c.RemoteAddr(), err)
	}
	return fmt.Errorf("receive from %s: %w", c.RemoteAddr(), err)
}

// RawConn is the underlying connection: for tests that must write what
// no Conn would.
func (c *Conn) RawConn() net.Conn { return c.nc }
