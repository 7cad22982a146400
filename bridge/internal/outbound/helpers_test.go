package outbound

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vnfha/vnfha/test/vnfm"
)

// loopback is where every test peer listens.
const loopback = "127.0.0.1"

// newPKI makes a test CA with a server certificate for host and a client
// certificate: the test VNFM's, which the sinks' tests use too.
func newPKI(t *testing.T, host string) *vnfm.PKI {
	t.Helper()
	p, err := vnfm.NewPKI(t.TempDir(), host)
	if err != nil {
		t.Fatalf("test PKI for %s: %v", host, err)
	}
	return p
}

// newTLSServer starts an HTTPS server on 127.0.0.1 with p's server
// certificate; tune, when set, changes its TLS settings (mutual TLS,
// versions) before it starts.
func newTLSServer(t *testing.T, p *vnfm.PKI, h http.Handler, tune func(*testing.T, *vnfm.PKI, *httptest.Server)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	conf, err := p.ServerTLS(false)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = conf
	// The failed handshakes are the point; keep them out of the log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tune != nil {
		tune(t, p, srv)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
