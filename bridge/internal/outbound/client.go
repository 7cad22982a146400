package outbound

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"time"
)

// NewClient is the HTTP client a sink uses for every request to its peer:
//   - tc's trust and client certificate (see TLSConfig);
//   - no proxy from the environment: a request, its bearer token or its
//     signature go only where the config says, whatever environment
//     Pacemaker gives the bridge;
//   - redirects are answered, never followed: following one would carry
//     the request, and its credentials, to a place the config does not
//     name, perhaps in clear. The caller sees the 3xx and decides;
//   - timeout (> 0) bounds the dial, the handshake, the wait for the
//     answer's headers and the whole request, body read included; a
//     request's context can only make it shorter.
func NewClient(tc *tls.Config, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:        tc,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxIdleConns:           8,
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

// ReadBody reads at most limit bytes of resp's body, reports whether the
// body held more (truncated), and closes it. A peer cannot make the
// bridge read a download; one that trickles is cut by the request's
// context or the client's timeout, and err says so. What was read before
// an error is returned with it: the status and a start of the body are
// often all the caller needs.
func ReadBody(resp *http.Response, limit int64) (body []byte, truncated bool, err error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if int64(len(b)) > limit {
		return b[:limit], true, err
	}
	return b, false, err
}
