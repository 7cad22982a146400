package vnfm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Bounds on what is read from a peer.
const (
	maxBody     = 64 << 10 // one occurrence, one ProblemDetails
	maxListBody = 8 << 20  // a list of occurrences
)

// newClient is the HTTP client of both the token endpoint and the VNFM:
// the configured CA and client certificate, no proxy from the environment
// (the bearer token goes only where the config says), no redirects (a
// redirect would carry the request, and the token, elsewhere).
func newClient(tc *tls.Config, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		TLSClientConfig:        tc,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// readBody reads at most limit bytes of r's body and says whether more
// was left. The rest is drained a little, so the connection may be reused,
// and the body closed.
func readBody(r *http.Response, limit int64) ([]byte, bool, error) {
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if int64(len(b)) > limit {
		return b[:limit], true, err
	}
	if err == nil {
		_, _ = io.CopyN(io.Discard, r.Body, 4<<10)
	}
	return b, false, err
}

// certificateError reports whether err is a failure of TLS
// authentication, which no retry cures: the peer's certificate does not
// verify, or the peer refused ours.
func certificateError(err error) bool {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var he x509.HostnameError
	var cv *tls.CertificateVerificationError
	if errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &he) || errors.As(err, &cv) {
		return true
	}
	// The peer refused our certificate (or wants one): over TCP the
	// alert comes as an unexported type inside a "remote error", so only
	// its text tells (tls.AlertError is QUIC's).
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" && oe.Err != nil {
		m := oe.Err.Error()
		return strings.Contains(m, "certificate") || strings.Contains(m, "unknown authority")
	}
	return false
}

func ctxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// netMessage is a transport error without the url.Error's method and URL
// (the caller says what it did), or the whole error if it is no url.Error.
func netMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("timeout: %v", ue.Err)
		}
		return ue.Err.Error()
	}
	return err.Error()
}
