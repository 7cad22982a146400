package vnfm

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNew: New refuses what cannot work, naming each field, all at once.
func TestNew(t *testing.T) {
	p := testPKI(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	secret := write("secret", testSecret+"\n")
	good := func() Config {
		return Config{Name: "tacker", APIRoot: "https://tacker:9890/", TokenURL: "https://keystone/identity/v3/OS-OAUTH2/token",
			ClientID: testClientID, ClientSecretFile: secret, CAFile: p.CAFile}
	}
	tests := []struct {
		name string
		edit func(*Config)
		want []string // in the error; none: New succeeds
	}{
		{"good", func(*Config) {}, nil},
		{"http api_root", func(c *Config) { c.APIRoot = "http://tacker:9890" }, []string{"api_root", "allow_http"}},
		{"http token_url", func(c *Config) { c.TokenURL = "http://keystone/token" }, []string{"token_url", "allow_http"}},
		{"http allowed", func(c *Config) { c.APIRoot, c.TokenURL, c.AllowHTTP = "http://a", "http://b/t", true }, nil},
		{"ftp", func(c *Config) { c.APIRoot = "ftp://a" }, []string{"api_root"}},
		{"no host", func(c *Config) { c.APIRoot = "https:///x" }, []string{"api_root", "no host"}},
		{"query", func(c *Config) { c.APIRoot = "https://a/?x=1" }, []string{"api_root", "query"}},
		{"user info", func(c *Config) { c.APIRoot = "https://u:" + testSecret + "@a/" }, []string{"api_root", "user info"}},
		{"everything missing", func(c *Config) { *c = Config{} }, []string{"name", "api_root", "token_url", "client_id", "client_secret_file"}},
		{"secret file missing", func(c *Config) { c.ClientSecretFile = filepath.Join(dir, "nope") }, []string{"client_secret_file"}},
		{"secret file empty", func(c *Config) { c.ClientSecretFile = write("empty", "\n") }, []string{"client_secret_file", "empty"}},
		{"secret two lines", func(c *Config) { c.ClientSecretFile = write("two", "a\nb\n") }, []string{"client_secret_file", "more than one line"}},
		{"secret huge", func(c *Config) { c.ClientSecretFile = write("huge", strings.Repeat("x", 5000)) }, []string{"client_secret_file", "larger"}},
		{"mtls without secret", func(c *Config) { c.ClientSecretFile, c.CertFile, c.KeyFile = "", p.ClientCert, p.ClientKey }, nil},
		{"cert without key", func(c *Config) { c.CertFile = p.ClientCert }, []string{"cert_file", "together"}},
		{"cert is not a cert", func(c *Config) { c.CertFile, c.KeyFile = secret, secret }, []string{"cert_file"}},
		{"ca not pem", func(c *Config) { c.CAFile = secret }, []string{"ca_file", "no PEM"}},
		{"auth style", func(c *Config) { c.AuthStyle = "basic" }, []string{"auth_style"}},
		{"scope with space", func(c *Config) { c.Scopes = []string{"a b"} }, []string{"scopes"}},
		{"negative", func(c *Config) { c.Timeout, c.FollowTimeout = -1, -1 }, []string{"timeout", "follow_timeout"}},
		{"poll > follow", func(c *Config) { c.PollInterval, c.FollowTimeout = time.Minute, time.Second }, []string{"poll_interval"}},
		{"policy", func(c *Config) { c.Policy = []string{"vnfc.lost", "vnfc.gone"} }, []string{"policy", "vnfc.gone"}},
		{"cause not utf-8", func(c *Config) { c.Cause = "\xff" }, []string{"cause"}},
		{"params good", func(c *Config) {
			c.AdditionalParams = map[string]any{"all": false, "a-b_c:d. e/f": []any{1}, "n": nil, "o": map[string]any{"x": 1}}
		}, nil},
		{"params bad key", func(c *Config) { c.AdditionalParams = map[string]any{"a,b": 1} }, []string{"additional_params", "a,b"}},
		{"params newline key", func(c *Config) { c.AdditionalParams = map[string]any{"a\n": 1} }, []string{"additional_params"}},
		{"params long key", func(c *Config) { c.AdditionalParams = map[string]any{strings.Repeat("k", 1025): 1} }, []string{"additional_params"}},
		{"params long string", func(c *Config) { c.AdditionalParams = map[string]any{"k": strings.Repeat("é", 1025)} }, []string{"additional_params", "longer"}},
		{"params all not bool", func(c *Config) { c.AdditionalParams = map[string]any{"all": "false"} }, []string{"additional_params", "boolean"}},
		{"params not json", func(c *Config) { c.AdditionalParams = map[string]any{"k": map[any]any{1: 2}} }, []string{"additional_params"}},
		{"params func", func(c *Config) { c.AdditionalParams = map[string]any{"k": func() {}} }, []string{"additional_params"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.edit(&c)
			s, err := New(c)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				_ = s.Close()
				return
			}
			if err == nil {
				_ = s.Close()
				t.Fatalf("New succeeded; want an error with %q", tt.want)
			}
			noSecret(t, err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: %v; want %q in it", err, w)
				}
			}
		})
	}
}

// TestNewDefaults: the zero durations and policy take the defaults.
func TestNewDefaults(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert)
	c := testConfig(t, p, f)
	c.Timeout, c.FollowTimeout, c.PollInterval = 0, 0, 0
	s := newSink(t, c)
	if s.cfg.Timeout != DefaultTimeout || s.cfg.FollowTimeout != DefaultFollowTimeout || s.cfg.PollInterval != DefaultPollInterval {
		t.Errorf("durations %s %s %s", s.cfg.Timeout, s.cfg.FollowTimeout, s.cfg.PollInterval)
	}
	if len(s.cfg.policy) != 2 || !s.cfg.policy["vnfc.lost"] || !s.cfg.policy["vnfc.unrecoverable"] {
		t.Errorf("policy %v", s.cfg.policy)
	}
}
