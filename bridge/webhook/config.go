// Package webhook is the bridge's webhook sink: each event is POSTed to one
// endpoint as a CloudEvents 1.0 structured-mode JSON document, signed as
// Standard Webhooks sign (webhook-id, webhook-timestamp, webhook-signature),
// over TLS unless the config explicitly allows plain HTTP. A Sink
// implements delivery.Sink; the bridge makes one per configured webhook.
package webhook

import (
	"fmt"
	"net/url"
	"time"

	"github.com/vnfha/vnfha/bridge/internal/outbound"
)

// Defaults for the fields of Config left zero.
const (
	// DefaultTypePrefix makes "vnfc.failed" the CloudEvent type
	// "io.vnfha.vnfc.failed": CloudEvents says a type SHOULD be prefixed
	// with a reverse-DNS name naming the organisation that defines its
	// semantics, so receivers can tell vnfha's events from others'.
	DefaultTypePrefix = "io.vnfha."
	// DefaultTimeout is the time one attempt may take, from the dial to
	// the answer's status line. Standard Webhooks tells receivers to
	// expect a 15 to 30 s sender timeout: a receiver built to that
	// guidance may take seconds before it answers, and a shorter timeout
	// would turn its slow success into a duplicate. The lower bound keeps
	// a receiver that hangs from holding a subject's queue for longer than
	// needed; the queue's backoff is what spaces the retries.
	DefaultTimeout = 15 * time.Second
)

// MaxRetryAfter bounds the wait a receiver can ask for with Retry-After:
// an hour (see outbound.RetryAfter).
const MaxRetryAfter = outbound.MaxRetryAfter

// Config is one webhook endpoint, as the bridge's config describes it. It
// holds no secret: the HMAC key is only ever in the file SecretFile names,
// so a Config can be printed, logged and shown in the status as it is.
// The YAML key each field should have is given in its comment.
type Config struct {
	// Name names the sink in logs, the status and metrics. Required;
	// letters, digits, '.', '_' and '-', at most 64. YAML: name.
	Name string
	// URL is where events are POSTed. https, unless AllowHTTP is set. It
	// must carry no user:password (credentials belong in files, not in a
	// URL that ends up in logs). YAML: url.
	URL string
	// AllowHTTP allows an http:// URL: events, and their signatures, then
	// cross the network in clear. Off by default; never used as a
	// fallback when TLS fails. YAML: allow_http.
	AllowHTTP bool
	// SecretFile is the file holding the Standard Webhooks secret,
	// "whsec_" followed by the base64 of 24 to 64 random bytes. Several
	// secrets, one per line, sign every request with each of them (the
	// webhook-signature header then lists one signature per secret), so a
	// receiver can move to a new key without losing an event. Read by New,
	// and again at an attempt when the file was changed or replaced
	// (another inode, size or modification time): a rotation needs no
	// restart. Its content never appears in an error, a log or the status.
	// Required. YAML: secret_file.
	SecretFile string
	// Types selects the events sent: an exact type ("vnfc.failed"), a
	// prefix ending in ".*" ("vnfc.*", "lb.*") or "*". Empty means every
	// event. YAML: types.
	Types []string
	// Source is the CloudEvent source used for an event that carries
	// none (delivery.Event.Source is used when set): a URI reference
	// naming the cluster, e.g. "/vnfha/clusters/prod1". The bridge fills
	// it in; it is not meant to be set by hand. YAML: none.
	Source string
	// TypePrefix is put before the bridge's event type to make the
	// CloudEvent type. Empty means DefaultTypePrefix. YAML: type_prefix.
	TypePrefix string
	// CAFile is a PEM file of the CAs trusted for the server's
	// certificate, instead of the system's. YAML: tls.ca_file.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key
	// presented for mutual TLS; both or neither. YAML: tls.cert_file,
	// tls.key_file.
	CertFile string
	KeyFile  string
	// Timeout bounds one attempt; the ctx given to Deliver can only make
	// it shorter. Zero means DefaultTimeout. YAML: timeout.
	Timeout time.Duration
}

// String describes c without the URL's path and query, which some
// receivers use as a bearer secret (a chat service's incoming-webhook URL
// is one). The secret itself is never in a Config.
func (c Config) String() string {
	return fmt.Sprintf("webhook %q to %s (secret in %s)", c.Name, redactURL(c.URL), c.SecretFile)
}

// GoString is String, so that %#v cannot print the full URL either.
func (c Config) GoString() string { return c.String() }

// redactURL keeps the scheme and the host of a URL: enough to find the
// endpoint in a log, without a path or query that may be a credential.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		s += "/…"
	}
	return s
}
