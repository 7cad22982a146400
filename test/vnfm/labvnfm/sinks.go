package labvnfm

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Secrets are the webhook's signing secret (Standard Webhooks' whsec_
// form) and the OAuth client's secret, in files the bridge and the VNFM
// read.
type Secrets struct {
	WebhookFile, ClientFile string
	// Values are the webhook key's base64 and the client secret, as a
	// test looks for them where they must not be (logs, status).
	Values []string
}

// WriteSecrets makes new random secrets and writes them in dir, mode 0600.
func WriteSecrets(t testing.TB, dir string) Secrets {
	t.Helper()
	s := Secrets{WebhookFile: filepath.Join(dir, "webhook.whsec"), ClientFile: filepath.Join(dir, "client.secret")}
	whKey, secret := base64.StdEncoding.EncodeToString(randomBytes(t, 32)), hex.EncodeToString(randomBytes(t, 24))
	s.Values = []string{whKey, secret}
	for path, text := range map[string]string{s.WebhookFile: "whsec_" + whKey + "\n", s.ClientFile: secret + "\n"} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Webhook is one webhook sink of the bridge's config: its name, and the
// test VNFM whose receiver it posts to.
type Webhook struct {
	Name string
	To   *VNFM
}

// Sinks is the bridge config's sink keys, pointed at test VNFMs.
type Sinks struct {
	Webhooks []Webhook
	// VNFM is the Heal sink's VNFM; nil: no Heal sink.
	VNFM *VNFM
	// CAFile is the CA the sinks trust (one test VNFM's PKI.CAFile): a
	// receiver another CA signed for is refused.
	CAFile   string
	Secrets  Secrets
	ClientID string
	// Timeout bounds each sink's attempt; FollowTimeout and PollInterval
	// are the Heal sink's following of its operation.
	Timeout, FollowTimeout, PollInterval time.Duration
	// DeliveryTimeout, MinBackoff and MaxBackoff are the delivery keys;
	// zero leaves the bridge's default.
	DeliveryTimeout, MinBackoff, MaxBackoff time.Duration
}

// YAML is the top-level config keys webhooks:, vnfm: and delivery:.
// Every webhook takes every event type.
func (s Sinks) YAML() string {
	var y strings.Builder
	if len(s.Webhooks) > 0 {
		y.WriteString("webhooks:\n")
	}
	for _, w := range s.Webhooks {
		fmt.Fprintf(&y, "  - name: %s\n    url: %s/webhook\n    secret_file: %s\n    tls: {ca_file: %s}\n", w.Name, w.To.Base, s.Secrets.WebhookFile, s.CAFile)
		if s.Timeout > 0 {
			fmt.Fprintf(&y, "    timeout: %s\n", s.Timeout)
		}
	}
	if s.VNFM != nil {
		fmt.Fprintf(&y, "vnfm:\n  api_root: %[1]s\n  token_url: %[1]s/token\n  client_id: %[2]s\n  client_secret_file: %[3]s\n  tls: {ca_file: %[4]s}\n",
			s.VNFM.Base, s.ClientID, s.Secrets.ClientFile, s.CAFile)
		for _, kv := range []struct {
			key string
			d   time.Duration
		}{{"timeout", s.Timeout}, {"follow_timeout", s.FollowTimeout}, {"poll_interval", s.PollInterval}} {
			if kv.d > 0 {
				fmt.Fprintf(&y, "  %s: %s\n", kv.key, kv.d)
			}
		}
	}
	var del strings.Builder
	for _, kv := range []struct {
		key string
		d   time.Duration
	}{{"timeout", s.DeliveryTimeout}, {"min_backoff", s.MinBackoff}, {"max_backoff", s.MaxBackoff}} {
		if kv.d > 0 {
			fmt.Fprintf(&del, "  %s: %s\n", kv.key, kv.d)
		}
	}
	if del.Len() > 0 {
		y.WriteString("delivery:\n" + del.String())
	}
	return y.String()
}
