package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/test/vnfm"
)

func testKey(t testing.TB, secret string) Auth {
	t.Helper()
	k, err := DeriveKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return Auth{Key: k}
}

// pair runs a real handshake over loopback TCP and returns both ends.
func pair(t testing.TB, client, server Auth) (*Conn, *Conn, error, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			ch <- res{nil, err}
			return
		}
		c, _, err := ServerHandshake(context.Background(), nc, "node1", server, 7, func(n string) bool { return n == "node2" })
		if err != nil {
			nc.Close()
		}
		ch <- res{c, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, cerr := Dial(ctx, ln.Addr().String(), "node2", client, 3)
	s := <-ch
	if cc != nil {
		t.Cleanup(func() { cc.Close() })
	}
	if s.c != nil {
		t.Cleanup(func() { s.c.Close() })
	}
	return cc, s.c, cerr, s.err
}

func TestHandshakeAndFrames(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth func(t testing.TB) (Auth, Auth)
	}{
		{"key", func(t testing.TB) (Auth, Auth) { a := testKey(t, "0123456789abcdef-secret"); return a, a }},
		{"tls", func(t testing.TB) (Auth, Auth) { return testTLS(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, sa := tc.auth(t)
			c, s, cerr, serr := pair(t, ca, sa)
			if cerr != nil || serr != nil {
				t.Fatalf("handshake: client %v, server %v", cerr, serr)
			}
			if c.Peer != "node1" || s.Peer != "node2" {
				t.Fatalf("peers: client sees %q, server sees %q", c.Peer, s.Peer)
			}
			es := []checkpoint.Entry{
				{Rev: 5, Epoch: 2, Op: checkpoint.OpPut, Key: "a/b", Value: bytes.Repeat([]byte{1}, 1024), Time: 99},
				{Rev: 6, Epoch: 2, Op: checkpoint.OpDelete, Key: "a/c", Time: -1},
				{Rev: 7, Epoch: 3, Op: checkpoint.OpEpoch},
			}
			want := []Frame{
				{Type: TEntries, Epoch: 3, Payload: AppendEntries(nil, es)},
				{Type: TAck, Epoch: 3, Payload: EncodeAck(7)},
				{Type: THeartbeat, Epoch: 3},
			}
			go func() {
				c.Send(want[0])
				c.SendBatch(want[1:])
			}()
			for i, w := range want {
				f, err := s.Recv()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if f.Type != w.Type || f.Epoch != w.Epoch || !bytes.Equal(f.Payload, w.Payload) {
					t.Fatalf("frame %d: got %v/%d/%d bytes, want %v/%d/%d", i, f.Type, f.Epoch, len(f.Payload), w.Type, w.Epoch, len(w.Payload))
				}
			}
			f, _ := decodeFrameAt(want[0])
			got, err := DecodeEntries(f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || got[0].Key != "a/b" || len(got[0].Value) != 1024 || got[1].Time != -1 || got[2].Op != checkpoint.OpEpoch {
				t.Fatalf("entries: %+v", got)
			}
			// And the other way.
			go s.Send(Frame{Type: TState, Epoch: 3, Payload: EncodeJSON(State{Sync: true})})
			g, err := c.Recv()
			if err != nil {
				t.Fatal(err)
			}
			var st State
			if err := DecodeJSON(g, &st); err != nil || !st.Sync {
				t.Fatalf("state %+v, %v", st, err)
			}
		})
	}
}

func decodeFrameAt(f Frame) (Frame, error) { return f, nil }

func TestHandshakeRefused(t *testing.T) {
	good := testKey(t, "0123456789abcdef-secret")
	other := testKey(t, "another-secret-of-16+")
	for _, tc := range []struct {
		name           string
		client, server Auth
		node           string
		want           string
	}{
		{"client has the wrong key", other, good, "node2", "proof does not match"},
		{"server has the wrong key", good, other, "node2", "proof does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, cerr, serr := pair(t, tc.client, tc.server)
			if cerr == nil || serr == nil {
				t.Fatalf("handshake with different keys: client %v, server %v", cerr, serr)
			}
			var ae *AuthError
			if !errors.As(cerr, &ae) && !errors.As(serr, &ae) {
				t.Fatalf("not an AuthError: %v / %v", cerr, serr)
			}
			if !strings.Contains(cerr.Error()+serr.Error(), tc.want) {
				t.Fatalf("errors %q / %q do not say %q", cerr, serr, tc.want)
			}
			if !strings.Contains(serr.Error(), "127.0.0.1") {
				t.Fatalf("server's error does not name the peer: %v", serr)
			}
		})
	}
	t.Run("unknown node", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		go func() {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			defer nc.Close()
			ServerHandshake(context.Background(), nc, "node1", good, 1, func(n string) bool { return n == "node9" })
		}()
		_, err := Dial(context.Background(), ln.Addr().String(), "node2", good, 1)
		if err == nil || !strings.Contains(err.Error(), "unknown node") {
			t.Fatalf("unknown node: %v", err)
		}
	})
	t.Run("tls without a client certificate", func(t *testing.T) {
		_, sa := testTLS(t)
		other, _ := testTLS(t) // another CA
		_, _, cerr, serr := pair(t, other, sa)
		if cerr == nil || serr == nil {
			t.Fatalf("TLS with another CA's certificate: %v / %v", cerr, serr)
		}
	})
}

// TestHandshakeHang: a peer that connects and says nothing, or stops
// halfway, is dropped by the deadline, not waited on forever.
func TestHandshakeHang(t *testing.T) {
	key := testKey(t, "0123456789abcdef-secret")
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := ServerHandshake(ctx, a, "node1", key, 1, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a silent peer passed the handshake")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handshake waited on a silent peer past its deadline")
	}
	// Client side: the server answers the hello with half a challenge.
	c, d := net.Pipe()
	defer c.Close()
	defer d.Close()
	go func() {
		io.ReadFull(d, make([]byte, 10))
		d.Write([]byte("VC\x01\x02\x00\x00"))
	}()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	go func() {
		_, err := ClientHandshake(ctx2, c, "node2", key, 1)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("half a challenge passed the handshake")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client waited on a half challenge past its deadline")
	}
}

// TestTamper: a flipped bit, a forged MAC, a replayed frame and an
// oversized length are each refused with a FrameError that says which.
func TestTamper(t *testing.T) {
	key := testKey(t, "0123456789abcdef-secret")
	c2s, s2c := sessionKeys(key.Key, make([]byte, 32), make([]byte, 32), "a", "b")
	record := func(fs ...Frame) []byte {
		var buf bytes.Buffer
		w := &Conn{w: bufioWriter(&buf)}
		w.setKeys(c2s, s2c)
		for _, f := range fs {
			if err := w.write(f); err != nil {
				t.Fatal(err)
			}
		}
		w.w.Flush()
		return buf.Bytes()
	}
	f1 := Frame{Type: TAck, Epoch: 4, Payload: EncodeAck(10)}
	f2 := Frame{Type: TAck, Epoch: 4, Payload: EncodeAck(11)}
	one := record(f1)
	two := record(f1, f2)
	flip := func(b []byte, i int) []byte { b = append([]byte(nil), b...); b[i] ^= 1; return b }
	for _, tc := range []struct {
		name   string
		stream []byte
		want   string
	}{
		{"intact", two, ""},
		{"flipped payload bit", flip(one, HeaderSize+2), "CRC32C"},
		{"flipped MAC bit", flip(one, len(one)-1), "HMAC"},
		{"replayed", append(append([]byte(nil), one...), one...), "sequence 0, expected 1"},
		{"bad magic", flip(one, 0), "magic"},
		{"huge length", func() []byte { b := append([]byte(nil), one...); b[4] = 0x7f; return b }(), "bound"},
		{"unknown type", func() []byte { b := append([]byte(nil), one...); b[3] = 200; return b }(), "unknown frame type"},
		{"truncated", one[:len(one)-3], "mid-frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			go func() { a.Write(tc.stream); a.Close() }()
			r := newConn(b)
			r.setKeys(s2c, c2s)
			var err error
			for i := 0; i < 3 && err == nil; i++ {
				_, err = r.Recv()
			}
			if tc.want == "" {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("intact stream: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestDecodeEntriesRefuses(t *testing.T) {
	ok := []checkpoint.Entry{{Rev: 1, Epoch: 1, Op: checkpoint.OpPut, Key: "k", Value: []byte("v")}}
	for _, tc := range []struct {
		name string
		es   []checkpoint.Entry
	}{
		{"gap", append(ok, checkpoint.Entry{Rev: 3, Epoch: 1, Op: checkpoint.OpPut, Key: "k"})},
		{"epoch backwards", []checkpoint.Entry{{Rev: 1, Epoch: 2, Op: checkpoint.OpEpoch}, {Rev: 2, Epoch: 1, Op: checkpoint.OpEpoch}}},
		{"bad key", []checkpoint.Entry{{Rev: 1, Epoch: 1, Op: checkpoint.OpPut, Key: "/x"}}},
		{"unknown op", []checkpoint.Entry{{Rev: 1, Epoch: 1, Op: 9, Key: "x"}}},
		{"revision 0", []checkpoint.Entry{{Rev: 0, Epoch: 1, Op: checkpoint.OpEpoch}}},
	} {
		if _, err := DecodeEntries(AppendEntries(nil, tc.es)); err == nil {
			t.Errorf("%s: decoded", tc.name)
		}
	}
	if _, err := DecodeEntries(AppendEntries(nil, nil)); err == nil {
		t.Error("an empty batch decoded")
	}
	if es, err := DecodeEntries(AppendEntries(nil, ok)); err != nil || len(es) != 1 {
		t.Errorf("a good batch: %v", err)
	}
}

// FuzzRecv feeds arbitrary bytes to the frame decoder, with and without
// session keys: it must never panic, never allocate past its bound, and
// whatever it accepts must decode again identically.
func FuzzRecv(f *testing.F) {
	key := testKey(f, "0123456789abcdef-secret")
	c2s, s2c := sessionKeys(key.Key, make([]byte, 32), make([]byte, 32), "a", "b")
	for _, keyed := range []bool{false, true} {
		var buf bytes.Buffer
		w := &Conn{w: bufioWriter(&buf)}
		if keyed {
			w.setKeys(c2s, s2c)
		}
		w.write(Frame{Type: TEntries, Epoch: 2, Payload: AppendEntries(nil, []checkpoint.Entry{{Rev: 1, Epoch: 2, Op: checkpoint.OpPut, Key: "k", Value: []byte("v")}})})
		w.write(Frame{Type: TAck, Epoch: 2, Payload: EncodeAck(1)})
		w.w.Flush()
		f.Add(buf.Bytes(), keyed)
	}
	f.Fuzz(func(t *testing.T, data []byte, keyed bool) {
		a, b := net.Pipe()
		defer b.Close()
		go func() { a.Write(data); a.Close() }()
		r := newConn(b)
		r.MaxPayload = 1 << 16
		if keyed {
			r.setKeys(s2c, c2s)
		}
		for i := 0; i < 8; i++ {
			fr, err := r.Recv()
			if err != nil {
				return
			}
			if fr.Type == TEntries {
				if es, err := DecodeEntries(fr.Payload); err == nil {
					again, err := DecodeEntries(AppendEntries(nil, es))
					if err != nil || len(again) != len(es) {
						t.Fatalf("re-encoded entries do not decode: %v", err)
					}
				}
			}
		}
	})
}

// FuzzDecodeEntries: the entries codec on arbitrary payloads.
func FuzzDecodeEntries(f *testing.F) {
	f.Add(AppendEntries(nil, []checkpoint.Entry{
		{Rev: 1, Epoch: 1, Op: checkpoint.OpPut, Key: "a", Value: []byte("x"), Time: 5},
		{Rev: 2, Epoch: 1, Op: checkpoint.OpDelete, Key: "a"},
		{Rev: 3, Epoch: 2, Op: checkpoint.OpEpoch},
	}))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, p []byte) {
		es, err := DecodeEntries(p)
		if err != nil {
			return
		}
		for i := range es {
			if err := checkEntry(&es[i]); err != nil {
				t.Fatalf("accepted a bad entry: %v", err)
			}
		}
		if !bytes.Equal(AppendEntries(nil, es), p) {
			// Non-minimal varints may decode; the re-encoding must then
			// decode to the same entries.
			again, err := DecodeEntries(AppendEntries(nil, es))
			if err != nil || len(again) != len(es) {
				t.Fatalf("re-encoding differs and does not decode: %v", err)
			}
		}
	})
}

// FuzzHandshake plays arbitrary bytes as the other end of both sides of
// the handshake: neither may panic or succeed without the key.
func FuzzHandshake(f *testing.F) {
	key := testKey(f, "0123456789abcdef-secret")
	// Seeds: a real client's hello and a real server's challenge.
	var hello, chal bytes.Buffer
	w := &Conn{w: bufioWriter(&hello)}
	w.write(Frame{Type: THello, Epoch: 1, Payload: appendName(append([]byte{Version}, make([]byte, 32)...), "node2")})
	w.write(Frame{Type: TProof, Epoch: 1, Payload: make([]byte, 32)})
	w.w.Flush()
	w = &Conn{w: bufioWriter(&chal)}
	w.write(Frame{Type: TChallenge, Epoch: 1, Payload: append(appendName(make([]byte, 32), "node1"), make([]byte, 32)...)})
	w.w.Flush()
	f.Add(hello.Bytes(), true)
	f.Add(chal.Bytes(), false)
	f.Fuzz(func(t *testing.T, data []byte, server bool) {
		b := &scriptConn{r: bytes.NewReader(data)}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		if server {
			_, _, err = ServerHandshake(ctx, b, "node1", key, 1, nil)
		} else {
			_, err = ClientHandshake(ctx, b, "node2", key, 1)
		}
		if err == nil {
			t.Fatal("a handshake passed against bytes made without the key")
		}
	})
}

// scriptConn is a net.Conn that reads a fixed script, then EOF, and
// discards what is written to it.
type scriptConn struct {
	net.Conn
	r io.Reader
}

func (c *scriptConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *scriptConn) Close() error                       { return nil }
func (c *scriptConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *scriptConn) SetDeadline(time.Time) error        { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error    { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }

// testTLS makes a CA and two replicas' certificates (test/vnfm's PKI)
// and loads them as TLSFiles does in production.
func testTLS(t testing.TB) (client, server Auth) {
	t.Helper()
	pki, err := vnfm.NewPKI(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if client, err = TLSFiles(pki.ClientCert, pki.ClientKey, pki.CAFile); err != nil {
		t.Fatal(err)
	}
	if server, err = TLSFiles(pki.ServerCert, pki.ServerKey, pki.CAFile); err != nil {
		t.Fatal(err)
	}
	return client, server
}
