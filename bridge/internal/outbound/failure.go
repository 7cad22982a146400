package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
)

// Failure is what the error of a request that got no answer says about
// trying it again.
type Failure int

const (
	// NetworkFailure is everything that may pass: refused, reset, DNS,
	// a peer that closed mid-answer, a TLS alert that is not about
	// certificates. Retry.
	NetworkFailure Failure = iota
	// TrustFailure is a TLS authentication that failed, either way: the
	// peer's certificate does not verify (unknown CA, wrong name,
	// expired), the peer refused ours or wants one, or the peer does not
	// speak TLS at all (plain HTTP on the https port). Retrying cannot
	// cure it and there is no fallback to clear text: the config must
	// change.
	TrustFailure
	// ContextDone is the request's context ending: the caller cancelled,
	// or a deadline passed (the caller's, or the client's timeout). The
	// caller knows why; to the peer it is no verdict.
	ContextDone
)

func (f Failure) String() string {
	switch f {
	case NetworkFailure:
		return "network failure"
	case TrustFailure:
		return "trust failure"
	case ContextDone:
		return "context done"
	}
	return fmt.Sprintf("Failure(%d)", int(f))
}

// Classify tells what kind of failure err, from an http.Client's Do or from
// reading a body, is. It reads types and alert codes, never messages: a
// text can change with a Go release, or be chosen by the peer.
func Classify(err error) Failure {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// net/http's own timeouts say Is(DeadlineExceeded) too.
		return ContextDone
	case untrusted(err):
		return TrustFailure
	}
	return NetworkFailure
}

func untrusted(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		record   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &hostname):
		return true
	case errors.Is(err, http.ErrSchemeMismatch), errors.As(err, &record):
		// Not TLS on the other end: net/http turns a record header
		// that reads "HTTP/" into ErrSchemeMismatch; anything else
		// (an SSH banner, a database) stays a RecordHeaderError.
		return true
	}
	code, ok := remoteAlert(err)
	if !ok {
		return false
	}
	switch code {
	case 42, 43, 44, 45, 46, 48, 49, 116:
		// The peer refused our certificate, or has none of ours it
		// accepts (RFC 8446 §6.2): bad, unsupported, revoked, expired
		// or unknown certificate, unknown CA, access denied,
		// certificate required.
		return true
	case 40:
		// handshake_failure is what a TLS 1.2 peer, Go's or OpenSSL's
		// (HAProxy, nginx), sends when it requires a client
		// certificate and gets none; otherwise it says the two sides
		// share no cipher or curve. Either is the config's to fix.
		return true
	}
	return false
}

// remoteAlert finds the code of a TLS alert the peer sent. Over TCP,
// crypto/tls (Go 1.26 still) reports one as a net.OpError "remote error"
// around its unexported alert type, a uint8; tls.AlertError is what QUIC
// gets, and what a later Go may wrap. reflect reads the code where the
// type cannot be named, rather than matching the alert's text.
func remoteAlert(err error) (uint8, bool) {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return uint8(ae), true
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return 0, false
	}
	v := reflect.ValueOf(op.Err)
	if v.Type().PkgPath() != "crypto/tls" || v.Kind() != reflect.Uint8 {
		return 0, false
	}
	return uint8(v.Uint()), true
}

// StripURL drops net/http's url.Error from err: it quotes the request's
// full URL, whose path or query may be a credential (a chat service's
// incoming-webhook URL is one). The caller names the peer itself, by
// scheme and host. The rest of the chain stays, for errors.Is and As; a
// timeout says so first, as the inner error may not.
func StripURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if ue.Timeout() {
		return fmt.Errorf("timeout: %w", ue.Err)
	}
	return ue.Err
}
