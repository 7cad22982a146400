package outbound

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/vnfha/vnfha/test/vnfm"
)

// newPKI makes a test CA with a server certificate for hosts (127.0.0.1
// by default) and a client certificate: the test VNFM's.
func newPKI(t *testing.T, hosts ...string) *vnfm.PKI {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	p, err := vnfm.NewPKI(t.TempDir(), hosts...)
	if err != nil {
		t.Fatal(err)
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

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
