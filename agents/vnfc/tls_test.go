package vnfc

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

// TestTLSVerify: https health checks and role hooks verify the server by
// default (before, they never did, silently); tls_verify=false turns that
// off, and tls_ca_file trusts the VNFC's own certificate.
func TestTLSVerify(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("secret-key-material\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		params map[string]string
		err    string // "" when the check and the hook must pass
		code   ocf.Code
	}{
		{name: "verified by default", params: nil, err: "certificate signed by unknown authority"},
		{name: "tls_verify=false", params: map[string]string{"tls_verify": "false"}},
		{name: "tls_ca_file", params: map[string]string{"tls_ca_file": ca}},
		{name: "tls_ca_file that is no CA", params: map[string]string{"tls_ca_file": notPEM}, err: "holds no PEM certificate", code: ocf.ErrNotConfigured},
		{name: "tls_ca_file missing", params: map[string]string{"tls_ca_file": filepath.Join(dir, "missing.pem")}, err: "no such file", code: ocf.ErrNotInstalled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := map[string]string{"command": "/bin/sleep 1", "health": srv.URL + "/health", "promote_command": srv.URL + "/role/promoted"}
			for k, v := range tt.params {
				in[k] = v
			}
			c, err := parseConfig(params(t, in))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for what, err := range map[string]error{
				"health": c.health.check(ctx, c),
				"hook":   c.runHook(ctx, c.promote, "promote"),
			} {
				if tt.err == "" && err != nil {
					t.Errorf("%s: %v", what, err)
				}
				if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
					t.Errorf("%s: %v; want %q", what, err, tt.err)
				}
				if err != nil && strings.Contains(err.Error(), "secret") {
					t.Errorf("%s: the CA file's contents are in the error: %v", what, err)
				}
			}
			if tt.code != 0 {
				got, _ := ocf.Result(c.resolve())
				if got != tt.code {
					t.Errorf("resolve = %d, want %d", got, tt.code)
				}
			}
		})
	}
}
