package vnfm

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

// Start serves a new Server for the test t on 127.0.0.1, over TLS when
// tlsConf is not nil (e.g. from PKI.ServerTLS). The test's cleanup closes
// the Server first, releasing the requests a switch holds, and then the
// listener, whose Close waits for every handler. With tlsConf, the
// returned server's Client() does not trust it: make the client's
// configuration with PKI.ClientTLS.
func Start(t testing.TB, o Options, tlsConf *tls.Config) (*Server, *httptest.Server) {
	t.Helper()
	s := New(o)
	ts := httptest.NewUnstartedServer(s.Handler())
	if tlsConf != nil {
		ts.TLS = tlsConf
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close) // runs first
	return s, ts
}
