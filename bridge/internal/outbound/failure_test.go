package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnfha/vnfha/test/vnfm"
)

// TestClassify: real failures, each made by a real TLS or TCP peer on
// 127.0.0.1, classified as the sinks need: trust failures final,
// network failures retried. In each case the server's handler must not
// run, except where the answer is refused after the handshake.
func TestClassify(t *testing.T) {
	ours, theirs := newPKI(t, loopback), newPKI(t, loopback)
	misnamed := newPKI(t, "elsewhere.example")
	mutual := func(t *testing.T, p *vnfm.PKI, s *httptest.Server) {
		s.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		s.TLS.ClientCAs = p.Pool
	}
	mutualTLS12 := func(t *testing.T, p *vnfm.PKI, s *httptest.Server) {
		mutual(t, p, s)
		s.TLS.MaxVersion = tls.VersionTLS12
	}
	onlyTLS13 := func(t *testing.T, p *vnfm.PKI, s *httptest.Server) { s.TLS.MinVersion = tls.VersionTLS13 }
	client := func(trust *vnfm.PKI, withCert *vnfm.PKI) func(*tls.Config) {
		return func(c *tls.Config) {
			if trust != nil {
				c.RootCAs = trust.Pool
			}
			if withCert != nil {
				pair, err := tls.LoadX509KeyPair(withCert.ClientCert, withCert.ClientKey)
				if err != nil {
					panic(err)
				}
				c.Certificates = []tls.Certificate{pair}
			}
		}
	}
	tests := []struct {
		name   string
		server *vnfm.PKI
		tune   func(*testing.T, *vnfm.PKI, *httptest.Server)
		client func(*tls.Config)
		want   Failure
	}{
		{"another CA", theirs, nil, client(ours, nil), TrustFailure},
		{"the system's CAs", ours, nil, client(nil, nil), TrustFailure},
		{"wrong name", misnamed, nil, client(misnamed, nil), TrustFailure},
		// TLS 1.3: the server refuses after our handshake ends, with an
		// alert on our first read (certificate_required, 116).
		{"mTLS, no client certificate", ours, mutual, client(ours, nil), TrustFailure},
		{"mTLS, client certificate of another CA", ours, mutual, client(ours, theirs), TrustFailure},
		// TLS 1.2: the refusal comes inside the handshake: handshake_failure
		// without a certificate, bad_certificate for one of another CA.
		{"mTLS 1.2, no client certificate", ours, mutualTLS12, client(ours, nil), TrustFailure},
		{"mTLS 1.2, client certificate of another CA", ours, mutualTLS12, client(ours, theirs), TrustFailure},
		// protocol_version (70) is about versions, not trust: left to
		// the retries, as both sinks did before.
		{"no common version", ours, onlyTLS13, func(c *tls.Config) { client(ours, nil)(c); c.MaxVersion = tls.VersionTLS12 }, NetworkFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen atomic.Int32
			srv := newTLSServer(t, tt.server, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { seen.Add(1) }), tt.tune)
			tc := &tls.Config{MinVersion: tls.VersionTLS12}
			tt.client(tc)
			resp, err := NewClient(tc, 10*time.Second).Get(srv.URL)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("status %d; want a failure", resp.StatusCode)
			}
			if got := Classify(err); got != tt.want {
				t.Errorf("Classify(%v) = %v; want %v", err, got, tt.want)
			}
			if n := seen.Load(); n != 0 {
				t.Errorf("the handler ran %d times", n)
			}
		})
	}
}

// TestClassifyNotTLS: a peer on the https port that does not speak TLS is
// a config error, never a reason to talk in clear.
func TestClassifyNotTLS(t *testing.T) {
	var seen atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { seen.Add(1) }))
	t.Cleanup(plain.Close)
	banner := serveRaw(t, nil, func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")) })
	for _, u := range []string{strings.Replace(plain.URL, "http://", "https://", 1), "https://" + banner} {
		_, err := NewClient(&tls.Config{MinVersion: tls.VersionTLS12}, 10*time.Second).Get(u)
		if got := Classify(err); got != TrustFailure {
			t.Errorf("%s: Classify(%v) = %v; want a trust failure", u, err, got)
		}
	}
	if n := seen.Load(); n != 0 {
		t.Errorf("the plain server saw %d requests", n)
	}
}

// TestClassifyNetwork: what may pass is retried; the caller's context is
// told apart.
func TestClassifyNetwork(t *testing.T) {
	p := newPKI(t, loopback)
	tc, _ := TLSConfig(File{"ca", p.CAFile}, File{}, File{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "https://" + l.Addr().String()
	l.Close()
	closes := "https://" + serveRaw(t, nil, func(c net.Conn) {})
	halfHello := "https://" + serveRaw(t, nil, func(c net.Conn) {
		c.Write([]byte{0x16, 0x03, 0x03, 0x00, 0x40, 0x02}) // a ServerHello's first bytes, then nothing
	})
	// TLS set up, then half a status line and the end of the stream.
	midReply := "https://" + serveRaw(t, serverTLS(t, p), func(c net.Conn) {
		c.Read(make([]byte, 4096)) // the request
		c.Write([]byte("HTTP/1.1 200 O"))
	})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := newTLSServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}), nil)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	tests := []struct {
		name string
		url  string
		ctx  context.Context
		want Failure
	}{
		{"connection refused", refused, context.Background(), NetworkFailure},
		{"closed at once", closes, context.Background(), NetworkFailure},
		{"closed mid-handshake", halfHello, context.Background(), NetworkFailure},
		{"closed mid-reply", midReply, context.Background(), NetworkFailure},
		{"no such host", "https://vnfm.invalid", context.Background(), NetworkFailure},
		{"canceled", hang.URL, canceled, ContextDone},
		{"deadline", hang.URL, short, ContextDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(tt.ctx, http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := NewClient(tc, 10*time.Second).Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("status %d; want a failure", resp.StatusCode)
			}
			if got := Classify(err); got != tt.want {
				t.Errorf("Classify(%v) = %v; want %v", err, got, tt.want)
			}
		})
	}
}

// alertLike is a uint8 error that is not crypto/tls's alert: a remote
// error carrying it is not read as a TLS alert.
type alertLike uint8

func (a alertLike) Error() string { return fmt.Sprintf("bad certificate %d", uint8(a)) }

// TestClassifyWrapped: the types are found however deep, and a text that
// merely looks like a certificate problem is not one.
func TestClassifyWrapped(t *testing.T) {
	wrap := func(err error) error {
		return fmt.Errorf("heal: %w", &url.Error{Op: "Post", URL: "https://x/", Err: err})
	}
	tests := []struct {
		name string
		err  error
		want Failure
	}{
		{"alert error, certificate required", wrap(tls.AlertError(116)), TrustFailure},
		{"alert error, access denied", wrap(tls.AlertError(49)), TrustFailure},
		{"alert error, handshake failure", wrap(tls.AlertError(40)), TrustFailure},
		{"alert error, internal error", wrap(tls.AlertError(80)), NetworkFailure},
		{"unknown authority", wrap(x509.UnknownAuthorityError{}), TrustFailure},
		{"hostname", wrap(x509.HostnameError{}), TrustFailure},
		{"verification", wrap(&tls.CertificateVerificationError{Err: errors.New("x")}), TrustFailure},
		{"scheme mismatch", wrap(http.ErrSchemeMismatch), TrustFailure},
		{"record header", wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), TrustFailure},
		{"remote error, not crypto/tls's", wrap(&net.OpError{Op: "remote error", Err: alertLike(42)}), NetworkFailure},
		{"read error about certificates", wrap(&net.OpError{Op: "read", Err: errors.New("bad certificate")}), NetworkFailure},
		{"text only", errors.New("x509: certificate signed by unknown authority"), NetworkFailure},
		{"deadline beats all", wrap(fmt.Errorf("%w, %w", context.DeadlineExceeded, tls.AlertError(116))), ContextDone},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("%s: Classify(%v) = %v; want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestStripURL: the URL, which may hold a credential, is gone; the
// chain, and a timeout, stay.
func TestStripURL(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	ue := &url.Error{Op: "Post", URL: "https://hooks.example/T000/B000/tok-123?key=hunter2", Err: refused}
	err := StripURL(ue)
	if strings.Contains(err.Error(), "tok-123") || strings.Contains(err.Error(), "hunter2") || !errors.Is(err, refused) {
		t.Errorf("StripURL = %v", err)
	}
	_, err = NewClient(&tls.Config{}, 10*time.Second).Get("http://127.0.0.1:0/tok-123?key=hunter2")
	if err = StripURL(err); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("StripURL of a real failure = %v", err)
	}
	timeout := &url.Error{Op: "Get", URL: "https://x/tok-123", Err: context.DeadlineExceeded}
	if err := StripURL(timeout); !strings.HasPrefix(err.Error(), "timeout: ") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("StripURL of a timeout = %v", err)
	}
	plain := errors.New("no url here")
	if StripURL(plain) != plain {
		t.Error("StripURL changed an error without a url.Error")
	}
}

// serveRaw accepts TCP connections on 127.0.0.1, over TLS with conf
// when it is set, runs serve on each and closes it; it returns the
// address.
func serveRaw(t *testing.T, conf *tls.Config, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if conf != nil {
		l = tls.NewListener(l, conf)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			serve(c)
			c.Close()
		}
	}()
	return l.Addr().String()
}

func serverTLS(t *testing.T, p *vnfm.PKI) *tls.Config {
	t.Helper()
	conf, err := p.ServerTLS(false)
	if err != nil {
		t.Fatal(err)
	}
	return conf
}
