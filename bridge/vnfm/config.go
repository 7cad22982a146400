package vnfm

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/bridge/internal/outbound"
)

// Defaults for the keys a Config leaves at zero.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultFollowTimeout = 30 * time.Minute
	DefaultPollInterval  = 5 * time.Second
	// DefaultCoalesce covers the events of one node loss, which the
	// bridge stores and offers within a few tens of milliseconds.
	DefaultCoalesce = 50 * time.Millisecond
)

// DefaultPolicy is the event types that trigger a Heal when the config
// names none: a process that Pacemaker restarted in place needs no rebuilt
// VM, so vnfc.failed is left to the webhooks (masakari-monitors restarts
// before it notifies, for the same reason).
var DefaultPolicy = []string{delivery.VNFCLost, delivery.VNFCUnrecoverable}

// Config is one Heal sink. The YAML keys in the comments are the ones the
// bridge's config file should give them (the bridge maps them; this
// package reads no file but the secret, the CA and the client certificate).
type Config struct {
	// Name names the sink in logs, status and metrics. (name)
	Name string
	// APIRoot is the VNFM's apiRoot, e.g. https://tacker:9890; the Heal
	// goes to {APIRoot}/vnflcm/v2/vnf_instances/{id}/heal. https unless
	// AllowHTTP. (api_root)
	APIRoot string
	// AllowHTTP permits http:// in APIRoot and TokenURL, for a lab only:
	// the bearer token would travel in clear. (allow_http)
	AllowHTTP bool

	// TokenURL is the OAuth 2.0 token endpoint (Keystone's
	// /identity/v3/OS-OAUTH2/token, Keycloak's .../protocol/openid-connect/token).
	// (token_url)
	TokenURL string
	// ClientID is the OAuth 2.0 client. (client_id)
	ClientID string
	// ClientSecretFile holds the client secret (one line; surrounding
	// white space is dropped). It may be empty only with a client
	// certificate: then the token request is RFC 8705's mutual-TLS form,
	// client_id in the body and no secret. (client_secret_file)
	ClientSecretFile string
	// AuthStyle is how the secret reaches the token endpoint: "header"
	// (client_secret_basic, the default, as Tacker's own client and
	// Keystone do) or "params" (client_secret_post). (auth_style)
	AuthStyle string
	// Scopes are requested with the token, e.g. Keycloak's
	// "tacker_scope"; none by default. (scopes)
	Scopes []string

	// CAFile is a PEM bundle of the CAs that sign the VNFM's and the token
	// endpoint's certificates; empty means the system's. (ca_file)
	CAFile string
	// CertFile and KeyFile are the client certificate for mutual TLS,
	// presented to both the token endpoint and the VNFM. (cert_file, key_file)
	CertFile string
	KeyFile  string

	// Timeout bounds one request (token, Heal, one poll), including the
	// reading of its answer. (timeout)
	Timeout time.Duration
	// FollowTimeout bounds how long an accepted Heal's LCM operation
	// occurrence is followed. (follow_timeout)
	FollowTimeout time.Duration
	// PollInterval is the wait between two reads of the occurrence.
	// (poll_interval)
	PollInterval time.Duration

	// Coalesce is how long a Heal waits for the Heals of other VNFCs of
	// the same VNF instance (a node loss fails several at once), to go
	// out as one request naming them all: Tacker runs one LCM operation
	// per VNF at a time and answers the others 409. Zero means
	// DefaultCoalesce; negative turns it off. (coalesce)
	Coalesce time.Duration

	// Policy lists the event types that trigger a Heal; empty means
	// DefaultPolicy. (policy)
	Policy []string
	// Cause is the HealVnfRequest's cause; empty means "vnfha: <type> of
	// <subject>". The event's id is appended to it in brackets, so that
	// the occurrence can be recognised later (see Deliver). (cause)
	Cause string
	// AdditionalParams is the HealVnfRequest's additionalParams, e.g.
	// Tacker's {"all": false}. Checked at New against Tacker's
	// keyvalue_pairs schema, so that a config Tacker would refuse fails
	// at start. (additional_params)
	AdditionalParams map[string]any

	// Log receives the sink's log lines; nil means logrus's standard
	// logger.
	Log logrus.FieldLogger
	// OnOutcome, when set, is called once for each accepted Heal when its
	// following ends (see Outcome): from the follower's goroutine, or from
	// Deliver's for a Heal that cannot be followed (no Location). Calls for
	// different subjects may run concurrently; it must not block for long.
	OnOutcome func(Outcome)
}

// Limits that keep a file, an answer or a value of the config bounded.
const (
	maxSecretFile  = 4 << 10
	maxCause       = 255  // HealVnfRequest_V200: cause maxLength, in characters
	maxIdentifier  = 255  // SOL013 Identifier maxLength
	maxParamKey    = 1024 // keyvalue_pairs' key pattern {1,1024}
	maxParamString = 1024 // keyvalue_pairs' string maxLength
	maxParamsJSON  = 64 << 10
)

// paramKey is keyvalue_pairs' key pattern without its {1,1024}, which Go's
// regexp does not accept (its repeat limit is 1000); the length is checked
// apart. Python's character class "a-zA-Z0-9-_:. /" holds a literal '-'.
var paramKey = regexp.MustCompile(`^[a-zA-Z0-9\-_:. /]+$`)

// settings is a Config once checked, with its files read.
type settings struct {
	Config
	apiRoot  *url.URL
	secret   string
	tls      *tls.Config
	policy   map[string]bool
	inParams bool
	params   map[string]any
}

// check validates every field at once and reads the files, so that one
// start shows every mistake. No error names the secret.
func (c Config) check() (*settings, error) {
	s := &settings{Config: c, policy: map[string]bool{}}
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, a...)...))
	}
	if strings.TrimSpace(c.Name) == "" {
		bad("name", "is empty")
	}
	if u, err := checkURL(c.APIRoot, c.AllowHTTP); err != nil {
		bad("api_root", "%v", err)
	} else {
		s.apiRoot = u
	}
	if _, err := checkURL(c.TokenURL, c.AllowHTTP); err != nil {
		bad("token_url", "%v", err)
	}
	if c.ClientID == "" {
		bad("client_id", "is empty")
	} else if strings.ContainsAny(c.ClientID, "\r\n") {
		bad("client_id", "holds a line break")
	}
	switch c.AuthStyle {
	case "", "header":
	case "params":
		s.inParams = true
	default:
		bad("auth_style", "%q is neither header nor params", c.AuthStyle)
	}
	for _, sc := range c.Scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\r\n\"\\") {
			bad("scopes", "%q is not a scope token (RFC 6749 §3.3)", sc)
		}
	}
	// TLS: the CA, the client certificate. The errors name their field.
	tc, tlsErrs := outbound.TLSConfig(
		outbound.File{Field: "ca_file", Path: c.CAFile},
		outbound.File{Field: "cert_file", Path: c.CertFile},
		outbound.File{Field: "key_file", Path: c.KeyFile})
	errs = append(errs, tlsErrs...)
	s.tls = tc
	switch {
	case c.ClientSecretFile != "":
		sec, err := readSecret(c.ClientSecretFile)
		if err != nil {
			bad("client_secret_file", "%v", err)
		}
		s.secret = sec
	case c.CertFile == "":
		bad("client_secret_file", "is empty, and no client certificate is configured (cert_file) for the mutual-TLS form")
	default:
		// RFC 8705: the client authenticates by its certificate and
		// names itself with client_id in the body.
		s.inParams = true
	}
	// Durations.
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.FollowTimeout == 0 {
		s.FollowTimeout = DefaultFollowTimeout
	}
	if s.PollInterval == 0 {
		s.PollInterval = DefaultPollInterval
	}
	switch {
	case s.Coalesce == 0:
		s.Coalesce = DefaultCoalesce
	case s.Coalesce < 0:
		s.Coalesce = 0
	case s.Coalesce > 10*time.Second:
		bad("coalesce", "%s is longer than 10s: the first Heal would wait that long", s.Coalesce)
	}
	if s.Timeout < 0 {
		bad("timeout", "%s is negative", s.Timeout)
	}
	if s.FollowTimeout < 0 {
		bad("follow_timeout", "%s is negative", s.FollowTimeout)
	}
	if s.PollInterval < 0 {
		bad("poll_interval", "%s is negative", s.PollInterval)
	} else if s.PollInterval > s.FollowTimeout {
		bad("poll_interval", "%s is longer than follow_timeout %s", s.PollInterval, s.FollowTimeout)
	}
	// Policy.
	pol := c.Policy
	if len(pol) == 0 {
		pol = DefaultPolicy
	}
	for _, t := range pol {
		switch t {
		case delivery.VNFCFailed, delivery.VNFCRecovered, delivery.VNFCLost, delivery.VNFCUnrecoverable,
			delivery.LBBackendDown, delivery.LBBackendUp:
			s.policy[t] = true
		default:
			bad("policy", "%q is not an event type", t)
		}
	}
	if !utf8.ValidString(c.Cause) {
		bad("cause", "is not valid UTF-8")
	} else if strings.ContainsAny(c.Cause, "\x00") {
		bad("cause", "holds a NUL")
	}
	if p, err := checkParams(c.AdditionalParams); err != nil {
		bad("additional_params", "%v", err)
	} else {
		s.params = p
	}
	if c.Log == nil {
		s.Log = logrus.StandardLogger()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("vnfm sink %q: %w", c.Name, err)
	}
	return s, nil
}

// checkURL accepts an absolute https (or, with allowHTTP, http) URL with a
// host, no user info, query or fragment. The trailing slash is dropped.
func checkURL(raw string, allowHTTP bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("is empty")
	}
	// The messages do not quote raw: a URL may hold a credential.
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("is not a URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case u.Scheme == "http":
		return nil, errors.New("is plain http: the token would travel in clear (allow_http: true permits it, for a lab)")
	default:
		return nil, fmt.Errorf("scheme %.16q is not https", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("has no host")
	}
	if u.User != nil {
		return nil, errors.New("holds user info: put credentials in client_id and client_secret_file")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, errors.New("has a query or a fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// readSecret reads the client secret. Its errors never hold the file's
// content.
func readSecret(path string) (string, error) {
	b, err := readBounded(path, maxSecretFile)
	if err != nil {
		return "", err
	}
	sec := strings.TrimSpace(string(b))
	if sec == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	if strings.ContainsAny(sec, "\r\n\x00") {
		return "", fmt.Errorf("%s holds more than one line", path)
	}
	return sec, nil
}

// checkParams applies Tacker's keyvalue_pairs schema and its semantic
// check of "all" to the configured additionalParams, and returns them
// as they will be sent (a JSON round trip, so that what YAML decoded is
// what goes out).
func checkParams(p map[string]any) (map[string]any, error) {
	if len(p) == 0 {
		return nil, nil
	}
	var errs []error
	for k, v := range p {
		if len(k) > maxParamKey || !paramKey.MatchString(k) {
			errs = append(errs, fmt.Errorf("key %.64q does not match ^[a-zA-Z0-9-_:. /]{1,1024}$", k))
			continue
		}
		switch v := v.(type) {
		case string:
			if utf8.RuneCountInString(v) > maxParamString {
				errs = append(errs, fmt.Errorf("%s: a string longer than %d characters", k, maxParamString))
			}
		case nil, bool, []any, map[string]any,
			int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, json.Number:
		default:
			errs = append(errs, fmt.Errorf("%s: a %T is not a JSON array, string, object, null, boolean or number", k, v))
		}
		if k == "all" {
			if _, ok := v.(bool); !ok {
				errs = append(errs, errors.New("all: Tacker requires a boolean"))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("not expressible in JSON: %w", err)
	}
	if len(b) > maxParamsJSON {
		return nil, fmt.Errorf("%d bytes of JSON, more than %d", len(b), maxParamsJSON)
	}
	var out map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // a large integer stays exact
	if err := d.Decode(&out); err != nil {
		return nil, fmt.Errorf("not expressible in JSON: %w", err)
	}
	return out, nil
}
