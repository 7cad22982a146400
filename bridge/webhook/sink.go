package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/bridge/internal/outbound"
)

// Bounds on what a receiver can make the sink read or report.
const (
	// maxAnswerRead is the most of an answer's body read: enough for a
	// ProblemDetails or an error page's start, never a download.
	maxAnswerRead = 4096
	// maxExcerpt is the most of that body quoted in an error.
	maxExcerpt = 256
)

// Sink POSTs events to one webhook endpoint. It implements delivery.Sink
// and is safe for concurrent use: the queue may call Deliver for
// different subjects at once.
type Sink struct {
	name       string
	endpoint   *url.URL
	host       string // scheme://host, all of the URL that errors show
	keys       *keyring
	filter     filter
	source     string
	typePrefix string
	timeout    time.Duration
	client     *http.Client
	now        func() time.Time
}

var _ delivery.Sink = (*Sink)(nil)

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	// prefixRE is a reverse-DNS name and its final dot: DNS labels.
	prefixRE = regexp.MustCompile(`^(?i:[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+$`)
)

// New checks c and makes its Sink. Every problem is reported at once, each
// naming its field, so one run of the config check shows them all. A
// secret file that is missing, unreadable or malformed is one of them: it
// cannot get better by retrying.
func New(c Config) (*Sink, error) {
	var errs []error
	fail := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("webhook %q: %s: %s", c.Name, field, fmt.Sprintf(format, args...)))
	}
	if !nameRE.MatchString(c.Name) {
		fail("name", "want 1 to 64 letters, digits, '.', '_' or '-'")
	}
	endpoint, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		fail("url", "required")
	case err != nil:
		// url.Error quotes the URL, which may hold a credential.
		fail("url", "not a URL")
	case endpoint.Scheme == "http" && !c.AllowHTTP:
		fail("url", "is http://: events and their signatures would cross the network in clear; use https, or set allow_http to accept that")
	case endpoint.Scheme != "https" && endpoint.Scheme != "http":
		fail("url", "scheme %q: want https (or http with allow_http)", endpoint.Scheme)
	case endpoint.Host == "" || endpoint.Hostname() == "":
		fail("url", "has no host")
	case endpoint.User != nil:
		fail("url", "carries a user or password: keep credentials out of URLs (the signature authenticates the sink)")
	case endpoint.Fragment != "":
		fail("url", "has a #fragment, which is never sent")
	}
	isHTTP := err == nil && endpoint.Scheme == "http"

	var keys *keyring
	if c.SecretFile == "" {
		fail("secret_file", "required: every request is signed")
	} else if keys, err = newKeyring(c.SecretFile); err != nil {
		errs = append(errs, fmt.Errorf("webhook %q: %w", c.Name, err)) // names secret_file itself
	}

	f, err := parseFilter(c.Types)
	if err != nil {
		fail("types", "%v", err)
	}
	if c.Source != "" {
		if err := checkSource(c.Source); err != nil {
			fail("source", "%v", err)
		}
	}
	prefix := c.TypePrefix
	if prefix == "" {
		prefix = DefaultTypePrefix
	} else if !prefixRE.MatchString(prefix) {
		fail("type_prefix", "want a reverse-DNS name ending in '.', as in %q", DefaultTypePrefix)
	}
	timeout := c.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		fail("timeout", "negative")
	}

	tlsConf, tlsErrs := outbound.TLSConfig(
		outbound.File{Field: "tls.ca_file", Path: c.CAFile},
		outbound.File{Field: "tls.cert_file", Path: c.CertFile},
		outbound.File{Field: "tls.key_file", Path: c.KeyFile})
	for _, e := range tlsErrs {
		errs = append(errs, fmt.Errorf("webhook %q: %w", c.Name, e))
	}
	if isHTTP && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "") {
		fail("tls", "set, but the URL is http://: nothing would use it")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	return &Sink{
		name:       c.Name,
		endpoint:   endpoint,
		host:       endpoint.Scheme + "://" + endpoint.Host,
		keys:       keys,
		filter:     f,
		source:     c.Source,
		typePrefix: prefix,
		timeout:    timeout,
		// No proxy from the environment, no redirect followed (see
		// classify): events go only where the config says.
		client: outbound.NewClient(tlsConf, timeout),
		now:    time.Now,
	}, nil
}

// Name is the webhook's name in the config.
func (s *Sink) Name() string { return s.name }

// Eager implements delivery.Eager: a receiver drops repeats by
// webhook-id, so the first attempt does not wait for the event to be
// stored.
func (s *Sink) Eager() bool { return true }

// Wants reports whether e's type passes the webhook's filter.
func (s *Sink) Wants(e delivery.Event) bool { return s.filter.match(e.Type) }

// Deliver POSTs e once: the CloudEvent as the body, signed with every key
// of the secret file at this attempt's time. webhook-id is e.ID, so a
// retry carries the id of the first attempt and the receiver drops
// repeats. The errors name the endpoint by scheme and host only.
func (s *Sink) Deliver(ctx context.Context, e delivery.Event) error {
	if !headerSafe(e.ID) {
		return &delivery.Final{Err: fmt.Errorf("webhook %s: event id is empty or not printable ASCII, unfit for webhook-id", s.name)}
	}
	body, err := encodeEvent(e, s.source, s.typePrefix)
	if err != nil {
		return &delivery.Final{Err: fmt.Errorf("webhook %s: %w", s.name, err)}
	}
	keys, err := s.keys.current()
	if err != nil {
		// The file was fine at New and was changed since: the operator
		// is rotating it. Wait for them rather than drop the event or
		// sign with the keys they meant to retire.
		return &delivery.Retry{Err: fmt.Errorf("webhook %s: %w", s.name, err)}
	}
	ts := s.now()
	sig, err := sign(keys, e.ID, ts, body)
	if err != nil {
		return &delivery.Retry{Err: fmt.Errorf("webhook %s: sign: %w", s.name, err)}
	}

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return &delivery.Final{Err: fmt.Errorf("webhook %s: request to %s: %w", s.name, s.host, outbound.StripURL(err))}
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "vnfha-bridge")
	req.Header.Set(standardwebhooks.HeaderWebhookID, e.ID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)

	resp, err := s.client.Do(req)
	if err != nil {
		return s.transportError(err)
	}
	// Read a bounded start of the body, for the error and so that a
	// short answer leaves the connection reusable; ctx bounds a body that
	// trickles.
	answer, _, _ := outbound.ReadBody(resp, maxAnswerRead)
	return s.classify(resp, redact(answer, sig))
}

// sign makes the webhook-signature value: "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>" for each key, separated by spaces as the spec's
// rotation allows.
func sign(keys [][]byte, id string, ts time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		wh, err := standardwebhooks.NewWebhookRaw(k)
		if err != nil {
			return "", err
		}
		sig, err := wh.Sign(id, ts, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// classify turns an answer into delivery's classes, after Standard
// Webhooks' delivery semantics.
func (s *Sink) classify(resp *http.Response, answer []byte) error {
	code := resp.StatusCode
	status := fmt.Sprintf("webhook %s: %s answered %d", s.name, s.host, code)
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		// Standard Webhooks counts a 3xx as a failure. Following it
		// would send the signed event where the config does not say
		// (another host, perhaps http://); retrying gets the same
		// redirect until someone changes the URL. So it is final: it
		// is counted and logged, and the operator fixes the url.
		where := ""
		if loc, err := resp.Location(); err == nil {
			where = " to " + loc.Scheme + "://" + loc.Host
		}
		return &delivery.Final{Err: fmt.Errorf("%s, a redirect%s: not followed; set url to the endpoint itself", status, where)}
	case code == http.StatusGone:
		return &delivery.Final{Err: fmt.Errorf("%s: the endpoint is gone; remove or fix this webhook%s", status, excerpt(answer))}
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly:
		// Both say "the same request later may work" (RFC 9110 §15.5.9,
		// RFC 8470): not a refusal of the event.
		return &delivery.Retry{Err: errors.New(status)}
	case code == http.StatusTooManyRequests || code >= 500 && code < 600:
		// 429, 502, 503, 504 throttle or signal a passing outage;
		// other 5xx are the receiver's own failures. Both are retried,
		// after Retry-After when the receiver gave one.
		after := outbound.RetryAfter(resp.Header.Get("Retry-After"), s.now())
		return &delivery.Retry{After: after, Err: fmt.Errorf("%s%s", status, excerpt(answer))}
	case code >= 400 && code < 500:
		// 400, 401, 403, 404, 413, 422...: the receiver refuses this
		// event, or us; the same request will be refused again.
		return &delivery.Final{Err: fmt.Errorf("%s%s", status, excerpt(answer))}
	default:
		// 1xx as a final answer, or beyond 599: a broken peer, maybe a
		// proxy; transient until shown otherwise.
		return &delivery.Retry{Err: fmt.Errorf("%s, not an HTTP status", status)}
	}
}

// transportError classifies a failure to get an answer. A server whose
// certificate does not verify, or that refuses ours, is final: retrying
// cannot fix a trust problem, and there is no fallback to http.
// Everything else (refused, reset, timed out, DNS) is a retry.
func (s *Sink) transportError(err error) error {
	final := outbound.Classify(err) == outbound.TrustFailure
	err = fmt.Errorf("webhook %s: POST %s: %w", s.name, s.host, outbound.StripURL(err))
	if final {
		return &delivery.Final{Err: err}
	}
	return &delivery.Retry{Err: err}
}

// excerpt quotes the start of an answer's body for an error: at most
// maxExcerpt bytes, printable ASCII only, so a receiver cannot put control
// sequences or megabytes into the bridge's logs.
func excerpt(answer []byte) string {
	if len(answer) == 0 {
		return ""
	}
	var b strings.Builder
	for _, c := range answer {
		if b.Len() >= maxExcerpt {
			b.WriteString("…")
			break
		}
		switch {
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		case c == '\n' || c == '\r' || c == '\t':
			b.WriteByte(' ')
		default:
			b.WriteByte('?')
		}
	}
	return ": " + strings.TrimSpace(b.String())
}

// redact blanks what a receiver could echo of our request: the signature
// (not a secret, but a receiver that logs excerpts should not collect
// them). The other headers carry nothing the status does not show.
func redact(answer []byte, sig string) []byte {
	for _, v := range strings.Fields(sig) {
		answer = bytes.ReplaceAll(answer, []byte(v), []byte("[signature]"))
		if _, b64, ok := strings.Cut(v, ","); ok {
			answer = bytes.ReplaceAll(answer, []byte(b64), []byte("[signature]"))
		}
	}
	return answer
}

// headerSafe accepts an id fit for the webhook-id header and the signed
// content: visible ASCII, no spaces.
func headerSafe(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= 0x20 || id[i] >= 0x7f {
			return false
		}
	}
	return true
}
