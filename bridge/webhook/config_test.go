package webhook

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewRefuses(t *testing.T) {
	ca, other := newPKI(t), newPKI(t)
	good := writeFile(t, "secret", secretA)
	notPEM := writeFile(t, "ca.pem", "just text\n")
	// 16 bytes: whsec_ and valid base64, too short a key.
	short := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	long := "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 65)))
	tests := []struct {
		name string
		edit func(*Config)
		want []string // parts of the error, each naming its field
	}{
		{"http without allow_http", func(c *Config) { c.URL = "http://127.0.0.1/hook" }, []string{"url: is http://", "allow_http"}},
		{"ftp", func(c *Config) { c.URL = "ftp://127.0.0.1/hook" }, []string{`url: scheme "ftp"`}},
		{"no URL", func(c *Config) { c.URL = "" }, []string{"url: required"}},
		{"relative URL", func(c *Config) { c.URL = "/hook" }, []string{`url: scheme ""`}},
		{"no host", func(c *Config) { c.URL = "https:///hook" }, []string{"url: has no host"}},
		{"not a URL", func(c *Config) { c.URL = "https://[::1/?token=tok-123" }, []string{"url: not a URL"}},
		{"password in URL", func(c *Config) { c.URL = "https://user:hunter2@127.0.0.1/hook" }, []string{"url: carries a user or password"}},
		{"fragment", func(c *Config) { c.URL = "https://127.0.0.1/hook#x" }, []string{"url: has a #fragment"}},
		{"bad name", func(c *Config) { c.Name = "ops team" }, []string{"name: want"}},
		{"no name", func(c *Config) { c.Name = "" }, []string{"name: want"}},
		{"no secret file", func(c *Config) { c.SecretFile = "" }, []string{"secret_file: required"}},
		{"missing secret file", func(c *Config) { c.SecretFile = "/nonexistent/secret" }, []string{"secret_file /nonexistent/secret: stat"}},
		{"secret file is a directory", func(c *Config) { c.SecretFile = t.TempDir() }, []string{"not a regular file"}},
		{"empty secret file", func(c *Config) { c.SecretFile = writeFile(t, "s", "\n") }, []string{"holds no secret"}},
		{"no whsec_", func(c *Config) { c.SecretFile = writeFile(t, "s", base64.StdEncoding.EncodeToString(keyB)) }, []string{`does not start with "whsec_"`}},
		{"bad base64", func(c *Config) { c.SecretFile = writeFile(t, "s", "whsec_"+string(keyB)+"!!") }, []string{"not valid base64"}},
		{"too short", func(c *Config) { c.SecretFile = writeFile(t, "s", short) }, []string{"decodes to 16 bytes", "24 to 64"}},
		{"too long", func(c *Config) { c.SecretFile = writeFile(t, "s", long) }, []string{"decodes to 65 bytes"}},
		{"second secret bad", func(c *Config) { c.SecretFile = writeFile(t, "s", secretA+"\n"+short) }, []string{"secret 2 of 2: decodes to 16"}},
		{"too many secrets", func(c *Config) { c.SecretFile = writeFile(t, "s", strings.Repeat(secretA+"\n", 5)) }, []string{"holds 5 secrets, at most 4"}},
		{"huge secret file", func(c *Config) { c.SecretFile = writeFile(t, "s", strings.Repeat(secretA+" ", 200)) }, []string{"larger than 4096 bytes"}},
		{"CA file with no certificate", func(c *Config) { c.CAFile = notPEM }, []string{"tls.ca_file", "no PEM certificate"}},
		{"missing CA file", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, []string{"tls.ca_file: open /nonexistent/ca.pem"}},
		{"cert without key", func(c *Config) { c.CertFile = ca.ClientCert }, []string{"tls.cert_file is set without tls.key_file"}},
		{"key without cert", func(c *Config) { c.KeyFile = ca.ClientKey }, []string{"tls.key_file is set without tls.cert_file"}},
		{"key of another cert", func(c *Config) { c.CertFile, c.KeyFile = ca.ClientCert, other.ClientKey }, []string{"tls.cert_file", "private key does not match"}},
		{"cert file is a key", func(c *Config) { c.CertFile, c.KeyFile = ca.ClientKey, ca.ClientKey }, []string{"tls.cert_file"}},
		{"TLS on http", func(c *Config) { c.URL, c.AllowHTTP, c.CAFile = "http://127.0.0.1/", true, ca.CAFile }, []string{"tls: set, but the URL is http://"}},
		{"unknown type", func(c *Config) { c.Types = []string{"vnfc.failled"} }, []string{`types[0] "vnfc.failled" selects no event type`}},
		{"prefix without dot", func(c *Config) { c.Types = []string{"vnfc*"} }, []string{`types: types[0] "vnfc*": a prefix ends in ".*"`}},
		{"CloudEvent type", func(c *Config) { c.Types = []string{"io.vnfha.vnfc.failed"} }, []string{"without the CloudEvent type's prefix"}},
		{"empty type", func(c *Config) { c.Types = []string{"vnfc.lost", ""} }, []string{`types[1] "": empty type`}},
		{"upper case", func(c *Config) { c.Types = []string{"VNFC.*"} }, []string{"not a lower-case letter"}},
		{"bad type prefix", func(c *Config) { c.TypePrefix = "io.vnfha" }, []string{"type_prefix: want a reverse-DNS name"}},
		{"type prefix with a space", func(c *Config) { c.TypePrefix = "io vnfha." }, []string{"type_prefix"}},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, []string{"timeout: negative"}},
		{"bad source", func(c *Config) { c.Source = "%zz" }, []string{"source: the CloudEvent source is not a URI reference"}},
		{"all at once", func(c *Config) {
			c.URL, c.SecretFile, c.CAFile, c.Timeout = "http://127.0.0.1/", "", notPEM, -1
		}, []string{"url:", "secret_file:", "tls.ca_file", "timeout:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Name: "ops", URL: "https://127.0.0.1:8443/hook", SecretFile: good}
			tt.edit(&c)
			s, err := New(c)
			if err == nil {
				t.Fatalf("New(%v) = %v, want an error", c, s)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			assertNoSecret(t, err)
			for _, leak := range []string{"hunter2", "tok-123", "just text"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q shows %q", err, leak)
				}
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	ca := newPKI(t)
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"https", func(c *Config) {}},
		{"http, allowed", func(c *Config) { c.URL, c.AllowHTTP = "http://127.0.0.1/hook", true }},
		{"mTLS", func(c *Config) { c.CAFile, c.CertFile, c.KeyFile = ca.CAFile, ca.ClientCert, ca.ClientKey }},
		{"IPv6", func(c *Config) { c.URL = "https://[::1]:8443/hook?x=1" }},
		{"types", func(c *Config) { c.Types = []string{"vnfc.*", "lb.backend_down", "*"} }},
		{"prefix", func(c *Config) { c.TypePrefix = "com.example-corp.ha." }},
		{"source", func(c *Config) { c.Source = "https://ha.example.com/clusters/prod1" }},
		{"unpadded secret", func(c *Config) {
			c.SecretFile = writeFile(t, "s", "whsec_"+base64.RawStdEncoding.EncodeToString([]byte(strings.Repeat("k", 25)))+"\r\n")
		}},
		{"24 and 64 bytes", func(c *Config) {
			c.SecretFile = writeFile(t, "s", "whsec_"+base64.StdEncoding.EncodeToString(make([]byte, 24))+"\n\twhsec_"+base64.StdEncoding.EncodeToString(make([]byte, 64)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Name: "ops", URL: "https://127.0.0.1:8443/hook", SecretFile: writeFile(t, "secret", secretA)}
			tt.edit(&c)
			s, err := New(c)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if s.timeout != DefaultTimeout {
				t.Errorf("timeout %v", s.timeout)
			}
		})
	}
}

// TestConfigString: printing a Config, whichever verb, shows neither the
// URL's path and query (a credential for some receivers) nor the secret
// (which a Config never holds).
func TestConfigString(t *testing.T) {
	c := Config{Name: "chat", URL: "https://hooks.example.com/services/T0/B0/tok-123?key=k-456", SecretFile: writeFile(t, "secret", secretA)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		got := fmt.Sprintf(verb, c)
		if strings.Contains(got, "tok-123") || strings.Contains(got, "k-456") || strings.Contains(got, secretA[6:20]) {
			t.Errorf("%s shows too much: %s", verb, got)
		}
		if !strings.Contains(got, "https://hooks.example.com/…") {
			t.Errorf("%s = %s, want the host", verb, got)
		}
	}
	if got := fmt.Sprint(Config{URL: "::"}); !strings.Contains(got, "(invalid URL)") {
		t.Errorf("invalid URL printed as %s", got)
	}
}

// TestSecretFileReread: the keyring re-reads a file changed in place, and
// keeps its keys when nothing changed.
func TestSecretFileReread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secretA), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := newKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	// Written in place, same size, mtime forced to the old one's: the
	// young-file guard still catches it.
	fi, _ := os.Stat(path)
	if err := os.WriteFile(path, []byte(secretB), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	keys, err := k.current()
	if err != nil || len(keys) != 1 || string(keys[0]) != string(keyB) {
		t.Fatalf("after rewrite: %d keys, %v", len(keys), err)
	}
	// An old file is read once and then served from memory.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := k.current(); err != nil {
		t.Fatal(err)
	}
	if k.info == nil {
		t.Fatal("an hour-old file is not remembered")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := k.current(); err == nil {
		t.Error("a removed secret file still signs")
	}
}
