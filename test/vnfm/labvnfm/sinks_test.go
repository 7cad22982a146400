package labvnfm

import (
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge"
)

// TestSinksYAML: the keys the lab's bridge gets are the ones TestBridgeEvents
// wrote by hand before they were shared, and the bridge's own parser takes
// them (with and without the optional keys).
func TestSinksYAML(t *testing.T) {
	vm := &VNFM{Base: "https://198.18.2.5:9890"}
	bad := &VNFM{Base: "https://198.18.2.5:9891"}
	sec := Secrets{WebhookFile: "/d/webhook.whsec", ClientFile: "/d/client.secret"}
	full := Sinks{
		Webhooks: []Webhook{{Name: "receiver", To: vm}, {Name: "untrusted", To: bad}},
		VNFM:     vm, CAFile: "/d/vnfm/ca.pem", Secrets: sec, ClientID: "vnfha-bridge",
		Timeout: 2 * time.Second, FollowTimeout: time.Minute, PollInterval: 200 * time.Millisecond,
		DeliveryTimeout: 3 * time.Second, MinBackoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second,
	}
	const want = `webhooks:
  - name: receiver
    url: https://198.18.2.5:9890/webhook
    secret_file: /d/webhook.whsec
    tls: {ca_file: /d/vnfm/ca.pem}
    timeout: 2s
  - name: untrusted
    url: https://198.18.2.5:9891/webhook
    secret_file: /d/webhook.whsec
    tls: {ca_file: /d/vnfm/ca.pem}
    timeout: 2s
vnfm:
  api_root: https://198.18.2.5:9890
  token_url: https://198.18.2.5:9890/token
  client_id: vnfha-bridge
  client_secret_file: /d/client.secret
  tls: {ca_file: /d/vnfm/ca.pem}
  timeout: 2s
  follow_timeout: 1m0s
  poll_interval: 200ms
delivery:
  timeout: 3s
  min_backoff: 200ms
  max_backoff: 2s
`
	if got := full.YAML(); got != want {
		t.Errorf("YAML:\n%s\nwant:\n%s", got, want)
	}
	const base = "cluster: c\nhaproxy: [{name: lb1, admin: \"tcp://198.18.1.101:9999\"}]\n" +
		"services: [{name: web, resource: web-clone, backend: be, port: 8080}]\n"
	for _, s := range []Sinks{full, {Webhooks: full.Webhooks[:1], VNFM: vm, CAFile: "/ca", Secrets: sec, ClientID: "x"}, {VNFM: vm, Secrets: sec, ClientID: "x", CAFile: "/ca"}} {
		c, err := bridge.ParseConfig([]byte(base + s.YAML()))
		if err != nil {
			t.Errorf("ParseConfig: %v\n%s", err, s.YAML())
			continue
		}
		if len(c.Webhooks) != len(s.Webhooks) || c.VNFM == nil {
			t.Errorf("parsed %d webhooks, vnfm %v; want %d and one", len(c.Webhooks), c.VNFM, len(s.Webhooks))
		}
	}
}
