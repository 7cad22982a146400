package vnfc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"

	"github.com/vnfha/vnfha/ocf"
)

// caFileMax bounds what is read of tls_ca_file: a bundle of a few hundred
// certificates is well below it.
const caFileMax = 4 << 20

// tlsConfig is the TLS configuration of the https health check and the
// https role hooks: the system's roots, or tls_ca_file's certificates, and
// no verification at all only with tls_verify=false. A missing CA file is
// ErrNotInstalled (this node lacks it); one that holds no certificate is
// ErrNotConfigured. Nothing of the file is quoted.
func (c *config) tlsConfig() (*tls.Config, error) {
	if !c.tlsVerify {
		// The operator's choice, documented: a VNFC with a self-signed
		// certificate, checked for liveness only.
		return &tls.Config{InsecureSkipVerify: true}, nil //nolint:gosec // tls_verify=false
	}
	if c.caFile == "" {
		return &tls.Config{}, nil
	}
	f, err := os.Open(c.caFile)
	if err != nil {
		return nil, ocf.NotInstalled("tls_ca_file %s: %v", show(c.caFile), errors.Unwrap(err))
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, caFileMax+1))
	if err != nil {
		return nil, ocf.NotInstalled("tls_ca_file %s: %v", show(c.caFile), errors.Unwrap(err))
	}
	if len(pem) > caFileMax {
		return nil, ocf.NotConfigured("tls_ca_file %s is over %d bytes", show(c.caFile), caFileMax)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, ocf.NotConfigured("tls_ca_file %s holds no PEM certificate", show(c.caFile))
	}
	return &tls.Config{RootCAs: pool}, nil
}

// usesHTTPS reports whether a health check or a role hook speaks https,
// so that tls_ca_file is read only when it is needed.
func (c *config) usesHTTPS() bool {
	if c.health != nil && c.health.url != nil && c.health.url.Scheme == "https" {
		return true
	}
	for _, h := range []*hook{c.promote, c.demote} {
		if h != nil && h.url != nil && h.url.Scheme == "https" {
			return true
		}
	}
	return false
}

// httpClient is built per call: an agent process makes one or two requests
// and exits, so there is no pool worth keeping, and no proxy may be used for
// a node-local check. Redirects are not followed.
func (c *config) httpClient() (*http.Client, error) {
	tc := &tls.Config{}
	if c.usesHTTPS() {
		var err error
		if tc, err = c.tlsConfig(); err != nil {
			return nil, err
		}
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			TLSClientConfig:   tc,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
