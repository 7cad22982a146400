package outbound

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTLSConfig: every mistake in the files is reported, naming the
// field the caller gave, never quoting a file's content.
func TestTLSConfig(t *testing.T) {
	p, other := newPKI(t, loopback), newPKI(t, loopback)
	const secretish = "hunter2-not-PEM"
	dir := t.TempDir()
	notPEM, big := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "big.pem")
	for path, content := range map[string]string{notPEM: secretish + "\n", big: strings.Repeat("A", maxPEMFile+1)} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keyPEM, err := os.ReadFile(p.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		ca, cert, key  string
		want           []string // parts of the errors; none: no error
		roots, hasCert bool
	}{
		{"nothing", "", "", "", nil, false, false},
		{"CA", p.CAFile, "", "", nil, true, false},
		{"CA and client certificate", p.CAFile, p.ClientCert, p.ClientKey, nil, true, true},
		{"client certificate only", "", p.ClientCert, p.ClientKey, nil, false, true},
		{"missing CA", "/nonexistent/ca.pem", "", "", []string{"tls.ca_file: open /nonexistent/ca.pem"}, false, false},
		{"CA not PEM", notPEM, "", "", []string{"tls.ca_file: " + notPEM + " holds no PEM certificate"}, false, false},
		{"CA holds only a key", p.ClientKey, "", "", []string{"tls.ca_file", "no PEM certificate"}, false, false},
		{"CA too large", big, "", "", []string{"tls.ca_file", "larger than 1048576 bytes"}, false, false},
		{"CA is a directory", t.TempDir(), "", "", []string{"tls.ca_file: read"}, false, false},
		{"cert without key", "", p.ClientCert, "", []string{"tls.cert_file is set without tls.key_file: they go together"}, false, false},
		{"key without cert", "", "", p.ClientKey, []string{"tls.key_file is set without tls.cert_file"}, false, false},
		{"key of another cert", "", p.ClientCert, other.ClientKey, []string{"tls.cert_file", "tls.key_file", "private key does not match"}, false, false},
		{"cert file is a key", "", p.ClientKey, p.ClientKey, []string{"tls.cert_file"}, false, false},
		{"key file is not PEM", "", p.ClientCert, notPEM, []string{"tls.key_file"}, false, false},
		{"missing key", "", p.ClientCert, "/nonexistent/key.pem", []string{"tls.key_file: open /nonexistent/key.pem"}, false, false},
		{"huge cert", "", big, p.ClientKey, []string{"tls.cert_file", "larger than"}, false, false},
		{"all at once", notPEM, p.ClientCert, "", []string{"tls.ca_file", "tls.cert_file is set without"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, errs := TLSConfig(File{"tls.ca_file", tt.ca}, File{"tls.cert_file", tt.cert}, File{"tls.key_file", tt.key})
			if conf == nil {
				t.Fatal("nil config")
			}
			if conf.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion %x", conf.MinVersion)
			}
			var all strings.Builder
			for _, e := range errs {
				all.WriteString(e.Error() + "\n")
			}
			msg := all.String()
			if len(tt.want) == 0 {
				if len(errs) > 0 {
					t.Fatalf("errors: %s", msg)
				}
				if (conf.RootCAs != nil) != tt.roots || (len(conf.Certificates) == 1) != tt.hasCert {
					t.Errorf("RootCAs %v, %d certificates; want roots %v, certificate %v", conf.RootCAs != nil, len(conf.Certificates), tt.roots, tt.hasCert)
				}
				return
			}
			if len(errs) < len(tt.want) && tt.name == "all at once" {
				t.Errorf("%d errors, want %d: %s", len(errs), len(tt.want), msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("errors %q lack %q", msg, w)
				}
			}
			for _, leak := range []string{secretish, string(keyPEM[40:80]), "AAAAAAAA"} {
				if strings.Contains(msg, leak) {
					t.Errorf("errors quote a file: %q", msg)
				}
			}
		})
	}
}

// TestTLSConfigFieldNames: the errors name the caller's own keys.
func TestTLSConfigFieldNames(t *testing.T) {
	p := newPKI(t, loopback)
	_, errs := TLSConfig(File{"ca_file", "/nonexistent"}, File{"cert_file", p.ClientCert}, File{"key_file", ""})
	if len(errs) != 2 {
		t.Fatalf("errors %v; want 2", errs)
	}
	if !strings.HasPrefix(errs[0].Error(), "ca_file: ") || !strings.HasPrefix(errs[1].Error(), "cert_file is set without key_file") {
		t.Errorf("errors %v", errs)
	}
}
