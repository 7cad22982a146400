package bridge

import (
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/bridge/vnfm"
	"github.com/vnfha/vnfha/bridge/webhook"
)

// Defaults of the delivery keys.
const (
	DefaultDeliveryTimeout = 30 * time.Second
	DefaultMinBackoff      = time.Second
	DefaultMaxBackoff      = 5 * time.Minute
)

// WebhookConfig is one entry of the webhooks key: an endpoint that gets
// the events as signed CloudEvents (bridge/webhook documents each field).
type WebhookConfig struct {
	Name       string    `yaml:"name"`
	URL        string    `yaml:"url"`
	AllowHTTP  bool      `yaml:"allow_http"`
	SecretFile string    `yaml:"secret_file"`
	Types      []string  `yaml:"types"`
	TypePrefix string    `yaml:"type_prefix"`
	TLS        TLSConfig `yaml:"tls"`
	Timeout    Duration  `yaml:"timeout"`
}

// VNFMConfig is the vnfm key: the ETSI SOL002/003 VNFM that heals what
// Pacemaker cannot recover (bridge/vnfm documents each field).
type VNFMConfig struct {
	Name             string    `yaml:"name"`
	APIRoot          string    `yaml:"api_root"`
	AllowHTTP        bool      `yaml:"allow_http"`
	TokenURL         string    `yaml:"token_url"`
	ClientID         string    `yaml:"client_id"`
	ClientSecretFile string    `yaml:"client_secret_file"`
	AuthStyle        string    `yaml:"auth_style"`
	Scopes           []string  `yaml:"scopes"`
	TLS              TLSConfig `yaml:"tls"`
	Timeout          Duration  `yaml:"timeout"`
	FollowTimeout    Duration  `yaml:"follow_timeout"`
	PollInterval     Duration  `yaml:"poll_interval"`
	// Coalesce: how long a Heal waits for those of other VNFCs of the
	// same VNF, to go as one request; 0s turns it off (default 50ms).
	Coalesce         *Duration      `yaml:"coalesce"`
	Policy           []string       `yaml:"policy"`
	Cause            string         `yaml:"cause"`
	AdditionalParams map[string]any `yaml:"additional_params"`
}

// TLSConfig are the files of a TLS client: the CAs that sign the server's
// certificate (the system's when empty), and a client certificate for
// mutual TLS.
type TLSConfig struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// DeliveryConfig tunes how events are retried, for every sink.
type DeliveryConfig struct {
	// Timeout bounds one attempt of one sink.
	Timeout Duration `yaml:"timeout"`
	// MinBackoff and MaxBackoff bound the wait between two attempts of
	// one event: it doubles from MinBackoff, with jitter.
	MinBackoff Duration `yaml:"min_backoff"`
	MaxBackoff Duration `yaml:"max_backoff"`
}

// HasSinks reports whether the config sends events anywhere.
func (c *Config) HasSinks() bool { return len(c.Webhooks) > 0 || c.VNFM != nil }

// completeSinks checks the sink keys' shape and fills the delivery
// defaults. What needs the files (secrets, CAs) or the URLs' details is
// checked by the sinks themselves, when NewSinks builds them: at the
// bridge's start, and by --check-config.
func (c *Config) completeSinks(at func(path ...any) string, set func(path ...any) bool) error {
	names := map[string]bool{}
	for i, w := range c.Webhooks {
		if w.Name == "" {
			return fmt.Errorf("%swebhooks[%d].name: a name is needed", at("webhooks", i), i)
		}
		if names[w.Name] {
			return fmt.Errorf("%swebhooks[%d].name: %q is used twice", at("webhooks", i, "name"), i, w.Name)
		}
		names[w.Name] = true
		if w.URL == "" {
			return fmt.Errorf("%swebhooks[%d].url: the endpoint's URL is needed", at("webhooks", i), i)
		}
		if w.SecretFile == "" {
			return fmt.Errorf("%swebhooks[%d].secret_file: the file of the signing secret is needed", at("webhooks", i), i)
		}
	}
	if v := c.VNFM; v != nil {
		if v.Name == "" {
			v.Name = "vnfm"
		}
		if names[v.Name] {
			return fmt.Errorf("%svnfm.name: %q is also a webhook's name", at("vnfm", "name"), v.Name)
		}
		if v.APIRoot == "" || v.TokenURL == "" || v.ClientID == "" {
			return fmt.Errorf("%svnfm: api_root, token_url and client_id are needed", at("vnfm"))
		}
	}
	d := &c.Delivery
	if d.Timeout.Duration == 0 && !set("delivery", "timeout") {
		d.Timeout.Duration = DefaultDeliveryTimeout
	}
	if d.MinBackoff.Duration == 0 && !set("delivery", "min_backoff") {
		d.MinBackoff.Duration = DefaultMinBackoff
	}
	if d.MaxBackoff.Duration == 0 && !set("delivery", "max_backoff") {
		d.MaxBackoff.Duration = DefaultMaxBackoff
	}
	if d.Timeout.Duration < 100*time.Millisecond || d.Timeout.Duration > 10*time.Minute {
		return fmt.Errorf("%sdelivery.timeout: %s is outside 100ms..10m", at("delivery", "timeout"), d.Timeout)
	}
	if d.MinBackoff.Duration < 10*time.Millisecond || d.MinBackoff.Duration > time.Hour {
		return fmt.Errorf("%sdelivery.min_backoff: %s is outside 10ms..1h", at("delivery", "min_backoff"), d.MinBackoff)
	}
	if d.MaxBackoff.Duration < d.MinBackoff.Duration || d.MaxBackoff.Duration > 24*time.Hour {
		return fmt.Errorf("%sdelivery.max_backoff: %s is outside min_backoff..24h", at("delivery", "max_backoff"), d.MaxBackoff)
	}
	if c.HasSinks() && c.Cluster == "" {
		// The cluster is part of every event's id and source: without
		// it, two clusters' events would share ids at a receiver.
		return fmt.Errorf("cluster: a cluster name is needed when webhooks or vnfm are configured (it is part of every event's id)")
	}
	return nil
}

// Sinks are the built sinks of a config.
type Sinks struct {
	All  []delivery.Sink
	VNFM *vnfm.Sink // nil without a vnfm key
}

// Close stops what the sinks run in the background (the Heal followers).
func (s *Sinks) Close() {
	if s.VNFM != nil {
		_ = s.VNFM.Close()
	}
}

// NewSinks builds the config's sinks, reading their secret files, CAs and
// certificates: every mistake is reported here, at start, naming its key.
// onHeal, when set, gets the outcome of each followed Heal.
func NewSinks(c *Config, log logrus.FieldLogger, onHeal func(vnfm.Outcome)) (*Sinks, error) {
	s := &Sinks{}
	var errs []error
	for i, w := range c.Webhooks {
		sk, err := webhook.New(webhook.Config{
			Name: w.Name, URL: w.URL, AllowHTTP: w.AllowHTTP, SecretFile: w.SecretFile, Types: w.Types,
			Source: eventSource(c), TypePrefix: w.TypePrefix,
			CAFile: w.TLS.CAFile, CertFile: w.TLS.CertFile, KeyFile: w.TLS.KeyFile, Timeout: w.Timeout.Duration,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("webhooks[%d] (%s): %w", i, w.Name, err))
			continue
		}
		s.All = append(s.All, sk)
	}
	if v := c.VNFM; v != nil {
		sk, err := vnfm.New(vnfm.Config{
			Name: v.Name, APIRoot: v.APIRoot, AllowHTTP: v.AllowHTTP,
			TokenURL: v.TokenURL, ClientID: v.ClientID, ClientSecretFile: v.ClientSecretFile,
			AuthStyle: v.AuthStyle, Scopes: v.Scopes,
			CAFile: v.TLS.CAFile, CertFile: v.TLS.CertFile, KeyFile: v.TLS.KeyFile,
			Timeout: v.Timeout.Duration, FollowTimeout: v.FollowTimeout.Duration, PollInterval: v.PollInterval.Duration,
			Coalesce: coalesce(v.Coalesce),
			Policy:   v.Policy, Cause: v.Cause, AdditionalParams: v.AdditionalParams,
			Log: log, OnOutcome: onHeal,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("vnfm (%s): %w", v.Name, err))
		} else {
			s.VNFM = sk
			s.All = append(s.All, sk)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// coalesce maps the key to vnfm.Config.Coalesce: left out is the
// default, 0s is off.
func coalesce(d *Duration) time.Duration {
	switch {
	case d == nil:
		return 0
	case d.Duration == 0:
		return -1
	}
	return d.Duration
}
