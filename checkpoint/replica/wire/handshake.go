package wire

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// KeyInfo is the HKDF info string that derives the replication key from
// the shared secret (corosync's authkey by default): the derived key is
// never the secret itself, so this protocol cannot leak anything corosync
// relies on.
const KeyInfo = "vnfha checkpoint replication v1"

const (
	nonceSize   = 32
	maxNodeName = 255
	// HandshakeTimeout bounds a handshake when the context has no
	// earlier deadline: a peer that stops mid-handshake is dropped.
	HandshakeTimeout = 5 * time.Second
)

// Auth is how replicas prove to each other that they belong together:
// a shared key (Key, from DeriveKey) or mutual TLS (ServerTLS and
// ClientTLS, both requiring and verifying the other's certificate).
type Auth struct {
	Key       []byte
	ServerTLS *tls.Config
	ClientTLS *tls.Config
}

func (a Auth) tls() bool { return a.ServerTLS != nil || a.ClientTLS != nil }

func (a Auth) check() error {
	switch {
	case a.tls() && (a.ServerTLS == nil || a.ClientTLS == nil):
		return errors.New("replication auth: mutual TLS needs both a server and a client configuration")
	case a.tls() && len(a.Key) > 0:
		return errors.New("replication auth: a key and TLS both given: choose one")
	case !a.tls() && len(a.Key) < 16:
		return errors.New("replication auth: no key (or one under 16 bytes) and no TLS")
	}
	return nil
}

// DeriveKey derives the replication key from a shared secret with
// HKDF-SHA256 and KeyInfo.
func DeriveKey(secret []byte) ([]byte, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("replication secret of %d bytes: at least 16 needed", len(secret))
	}
	return hkdf.Key(sha256.New, secret, nil, KeyInfo, 32)
}

// KeyFile reads a shared secret (e.g. /etc/corosync/authkey) and returns
// the Auth derived from it.
func KeyFile(path string) (Auth, error) {
	secret, err := os.ReadFile(path)
	if err != nil {
		return Auth{}, fmt.Errorf("replication key: %w", err)
	}
	k, err := DeriveKey(secret)
	if err != nil {
		return Auth{}, fmt.Errorf("replication key %s: %w", path, err)
	}
	return Auth{Key: k}, nil
}

// TLSFiles builds mutual TLS from a certificate, its key and the CA that
// signs every replica's certificate.
func TLSFiles(certFile, keyFile, caFile string) (Auth, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return Auth{}, fmt.Errorf("replication TLS certificate: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return Auth{}, fmt.Errorf("replication TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return Auth{}, fmt.Errorf("replication TLS CA %s: no PEM certificate in it", caFile)
	}
	return TLSConfigs(cert, pool), nil
}

// TLSConfigs is TLSFiles with the certificate and CA already loaded.
// Peers are verified against the CA only (replicas dial addresses, and
// node names are checked by the handshake), so the certificates need no
// particular names.
func TLSConfigs(cert tls.Certificate, ca *x509.CertPool) Auth {
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("no peer certificate")
		}
		leaf, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		inter := x509.NewCertPool()
		for _, r := range raw[1:] {
			if c, err := x509.ParseCertificate(r); err == nil {
				inter.AddCert(c)
			}
		}
		_, err = leaf.Verify(x509.VerifyOptions{Roots: ca, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err
	}
	return Auth{
		ServerTLS: &tls.Config{
			Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs: ca, MinVersion: tls.VersionTLS13,
		},
		ClientTLS: &tls.Config{
			Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13,
			// Verified by VerifyPeerCertificate against the CA, without a
			// host name: replicas are addressed by IP.
			InsecureSkipVerify: true, VerifyPeerCertificate: verify,
		},
	}
}

// AuthError is a handshake the other end failed (wrong key, wrong
// certificate, unknown node, a protocol violation). It is logged with the
// peer's address; the connection is closed.
type AuthError struct {
	Peer   string
	Reason string
}

func (e *AuthError) Error() string {
	return "replication handshake with " + e.Peer + " refused: " + e.Reason
}

// Dial connects to a replica at addr as node and runs the client side of
// the handshake. The returned Conn's Peer is the server's node name.
func Dial(ctx context.Context, addr, node string, a Auth, epoch uint64) (*Conn, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("replication dial %s: %w", addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c, err := ClientHandshake(ctx, nc, node, a, epoch)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// ClientHandshake runs the client side of the handshake on nc.
func ClientHandshake(ctx context.Context, nc net.Conn, node string, a Auth, epoch uint64) (*Conn, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	if a.tls() {
		tc := tls.Client(nc, a.ClientTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, &AuthError{Peer: nc.RemoteAddr().String(), Reason: "TLS: " + err.Error()}
		}
		nc = tc
	}
	stop := deadline(ctx, nc)
	defer stop()
	c := newConn(nc)
	c.MaxPayload = 1024
	var nonceC [nonceSize]byte
	rand.Read(nonceC[:])
	hello := append([]byte{Version}, nonceC[:]...)
	hello = appendName(hello, node)
	if err := c.Send(Frame{Type: THello, Epoch: epoch, Payload: hello}); err != nil {
		return nil, fmt.Errorf("replication handshake with %s: %w", c.RemoteAddr(), err)
	}
	f, err := c.Recv()
	if err != nil {
		return nil, handshakeErr(c, err)
	}
	if f.Type == TError {
		return nil, &AuthError{Peer: c.RemoteAddr(), Reason: "the peer says: " + printable(f.Payload)}
	}
	if f.Type != TChallenge {
		return nil, &AuthError{Peer: c.RemoteAddr(), Reason: fmt.Sprintf("expected a challenge, got %s", f.Type)}
	}
	p := f.Payload
	if len(p) < nonceSize {
		return nil, &AuthError{Peer: c.RemoteAddr(), Reason: "short challenge"}
	}
	nonceS := p[:nonceSize]
	server, rest, err := readName(p[nonceSize:])
	if err != nil {
		return nil, &AuthError{Peer: c.RemoteAddr(), Reason: "challenge: " + err.Error()}
	}
	if a.tls() {
		if len(rest) != 0 {
			return nil, &AuthError{Peer: c.RemoteAddr(), Reason: "challenge: trailing bytes"}
		}
	} else {
		want := proof(a.Key, "server", nonceC[:], nonceS, node, server)
		if len(rest) != MACSize || !hmac.Equal(rest, want) {
			// Said to the server too, so that both logs tell why.
			c.Send(Frame{Type: TError, Epoch: epoch, Payload: []byte("the server's proof does not match: it does not hold our key")})
			return nil, &AuthError{Peer: c.RemoteAddr(), Reason: "the server's proof does not match: it does not hold our key"}
		}
	}
	var pc []byte
	if !a.tls() {
		pc = proof(a.Key, "client", nonceC[:], nonceS, node, server)
	}
	if err := c.Send(Frame{Type: TProof, Epoch: epoch, Payload: pc}); err != nil {
		return nil, fmt.Errorf("replication handshake with %s: %w", c.RemoteAddr(), err)
	}
	if !a.tls() {
		c2s, s2c := sessionKeys(a.Key, nonceC[:], nonceS, node, server)
		c.setKeys(c2s, s2c)
	}
	c.Peer = server
	c.MaxPayload = DefaultMaxPayload
	return c, nil
}

// ServerHandshake runs the server side of the handshake on an accepted
// connection as node. allowed says whether the client's node may
// connect (nil: any). The epoch of the client's hello is returned with
// the Conn.
func ServerHandshake(ctx context.Context, nc net.Conn, node string, a Auth, epoch uint64, allowed func(string) bool) (*Conn, uint64, error) {
	if err := a.check(); err != nil {
		return nil, 0, err
	}
	if a.tls() {
		tc := tls.Server(nc, a.ServerTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, 0, &AuthError{Peer: nc.RemoteAddr().String(), Reason: "TLS: " + err.Error()}
		}
		nc = tc
	}
	stop := deadline(ctx, nc)
	defer stop()
	c := newConn(nc)
	c.MaxPayload = 1024
	f, err := c.Recv()
	if err != nil {
		return nil, 0, handshakeErr(c, err)
	}
	if f.Type != THello {
		return nil, 0, &AuthError{Peer: c.RemoteAddr(), Reason: fmt.Sprintf("expected a hello, got %s", f.Type)}
	}
	p := f.Payload
	if len(p) < 1+nonceSize {
		return nil, 0, &AuthError{Peer: c.RemoteAddr(), Reason: "short hello"}
	}
	if p[0] != Version {
		return nil, 0, &AuthError{Peer: c.RemoteAddr(), Reason: fmt.Sprintf("protocol version %d, this replica speaks %d", p[0], Version)}
	}
	nonceC := p[1 : 1+nonceSize]
	client, rest, err := readName(p[1+nonceSize:])
	if err != nil || len(rest) != 0 {
		return nil, 0, &AuthError{Peer: c.RemoteAddr(), Reason: "hello: malformed node name"}
	}
	if allowed != nil && !allowed(client) {
		c.Send(Frame{Type: TError, Epoch: epoch, Payload: []byte("unknown node")})
		return nil, 0, &AuthError{Peer: c.RemoteAddr(), Reason: "node " + printable([]byte(client)) + " is not a configured peer"}
	}
	var nonceS [nonceSize]byte
	rand.Read(nonceS[:])
	ch := append([]byte(nil), nonceS[:]...)
	ch = appendName(ch, node)
	if !a.tls() {
		ch = append(ch, proof(a.Key, "server", nonceC, nonceS[:], client, node)...)
	}
	if err := c.Send(Frame{Type: TChallenge, Epoch: epoch, Payload: ch}); err != nil {
		return nil, 0, fmt.Errorf("replication handshake with %s: %w", c.RemoteAddr(), err)
	}
	g, err := c.Recv()
	if err != nil {
		return nil, 0, handshakeErr(c, err)
	}
	if g.Type == TError {
		return nil, 0, &AuthError{Peer: c.RemoteAddr(), Reason: "node " + printable([]byte(client)) + " says: " + printable(g.Payload)}
	}
	if g.Type != TProof {
		return nil, 0, &AuthError{Peer: c.RemoteAddr(), Reason: fmt.Sprintf("expected a proof, got %s", g.Type)}
	}
	if !a.tls() {
		want := proof(a.Key, "client", nonceC, nonceS[:], client, node)
		if !hmac.Equal(g.Payload, want) {
			return nil, 0, &AuthError{Peer: c.RemoteAddr(), Reason: "node " + printable([]byte(client)) + "'s proof does not match: it does not hold our key"}
		}
		c2s, s2c := sessionKeys(a.Key, nonceC, nonceS[:], client, node)
		c.setKeys(s2c, c2s)
	} else if len(g.Payload) != 0 {
		return nil, 0, &AuthError{Peer: c.RemoteAddr(), Reason: "proof: unexpected bytes under TLS"}
	}
	c.Peer = client
	c.MaxPayload = DefaultMaxPayload
	return c, f.Epoch, nil
}

// deadline puts ctx's deadline (or HandshakeTimeout) on nc for the
// handshake and cancels the handshake's I/O when ctx ends; stop clears
// both.
func deadline(ctx context.Context, nc net.Conn) (stop func()) {
	d, ok := ctx.Deadline()
	if !ok || time.Until(d) > HandshakeTimeout {
		d = time.Now().Add(HandshakeTimeout)
	}
	nc.SetDeadline(d)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
			nc.SetDeadline(time.Unix(1, 0))
		case <-done:
		}
	}()
	return func() {
		close(done)
		// The goroutine may not have run yet; once ctx ends too (the
		// caller cancels it right after the handshake), its select may
		// take either case. Clearing before it has exited let it put a
		// past deadline on a connection in use: every later write
		// failed with an i/o timeout.
		<-exited
		nc.SetDeadline(time.Time{})
	}
}

func handshakeErr(c *Conn, err error) error {
	var fe *FrameError
	if errors.As(err, &fe) {
		return &AuthError{Peer: c.RemoteAddr(), Reason: fe.Reason}
	}
	return &AuthError{Peer: c.RemoteAddr(), Reason: "no complete answer: " + err.Error()}
}

// proof binds the role, both nonces and both node names to the key. The
// role label keeps one side's proof from ever serving as the other's
// (a reflection).
func proof(key []byte, role string, nonceC, nonceS []byte, client, server string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("vnfha-checkpoint-proof-" + role + "\x00"))
	m.Write(nonceC)
	m.Write(nonceS)
	m.Write(appendName(nil, client))
	m.Write(appendName(nil, server))
	return m.Sum(nil)
}

// sessionKeys derives the per-connection, per-direction MAC keys: fresh
// nonces from both sides make every connection's keys new, so a frame
// recorded from one connection fails on any other.
func sessionKeys(key, nonceC, nonceS []byte, client, server string) (c2s, s2c []byte) {
	salt := append(append([]byte(nil), nonceC...), nonceS...)
	ctx := string(appendName(appendName(nil, client), server))
	c2s, _ = hkdf.Key(sha256.New, key, salt, "vnfha checkpoint c2s "+ctx, 32)
	s2c, _ = hkdf.Key(sha256.New, key, salt, "vnfha checkpoint s2c "+ctx, 32)
	return c2s, s2c
}

func appendName(b []byte, s string) []byte {
	if len(s) > maxNodeName {
		s = s[:maxNodeName]
	}
	return append(append(b, byte(len(s))), s...)
}

func readName(b []byte) (string, []byte, error) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", nil, errors.New("truncated node name")
	}
	n := int(b[0])
	if n == 0 {
		return "", nil, errors.New("empty node name")
	}
	return string(b[1 : 1+n]), b[1+n:], nil
}

// printable quotes at most 120 bytes of a peer's text for a log line.
func printable(b []byte) string {
	if len(b) > 120 {
		b = b[:120]
	}
	return fmt.Sprintf("%q", b)
}
