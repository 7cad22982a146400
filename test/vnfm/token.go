package vnfm

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokenAnswer is the token endpoint's success (RFC 6749 §5.1).
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// serveToken is the OAuth 2.0 token endpoint for the client credentials
// grant (RFC 6749 §4.4): form-encoded, the client authenticated with HTTP
// Basic (client_secret_basic, what Tacker's client uses) or in the form
// (client_secret_post), never both (§2.3); or, with client_id alone, by
// its TLS certificate (RFC 8705 §2, tls_client_auth, what Tacker's
// OAuth2MtlsAuthPlugin sends), which binds the token to that certificate.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	rec, body, ok := s.begin(w, r, EndpointToken)
	if !ok {
		return
	}
	reject := func(status int, code, why string) {
		rec.Status = status
		rec.Verdict = Rejected + ": " + why
		s.record(rec)
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="vnfm"`)
		}
		writeJSON(w, status, "application/json", map[string]string{"error": code, "error_description": why})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reject(http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST")
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		reject(http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		reject(http.StatusBadRequest, "invalid_request", "the form does not parse")
		return
	}
	for k, v := range form { // RFC 6749 §3.2: parameters MUST NOT be repeated
		if len(v) > 1 {
			reject(http.StatusBadRequest, "invalid_request", "parameter "+k+" repeated")
			return
		}
	}
	id, secret, basic := r.BasicAuth()
	_, inForm := form["client_secret"]
	byCert := false
	switch {
	case basic && inForm:
		reject(http.StatusBadRequest, "invalid_request", "client authenticated twice (Basic and form)")
		return
	case !basic && !inForm:
		if r.Header.Get("Authorization") != "" {
			reject(http.StatusUnauthorized, "invalid_client", "Authorization is not HTTP Basic")
			return
		}
		if form.Get("client_id") == "" {
			reject(http.StatusUnauthorized, "invalid_client", "no client authentication")
			return
		}
		// RFC 8705 §2: client_id alone, the certificate authenticates.
		if why := s.certAuth(r, form.Get("client_id")); why != "" {
			reject(http.StatusUnauthorized, "invalid_client", why)
			return
		}
		byCert = true
		rec.ClientAuth = AuthTLSClient
	case inForm:
		id, secret = form.Get("client_id"), form.Get("client_secret")
		rec.ClientAuth = AuthSecretPost
	default:
		rec.ClientAuth = AuthSecretBasic
		// §2.3.1: Basic credentials are form-encoded before base64.
		var e1, e2 error
		id, e1 = url.QueryUnescape(id)
		secret, e2 = url.QueryUnescape(secret)
		if e1 != nil || e2 != nil {
			reject(http.StatusUnauthorized, "invalid_client", "Basic credentials are not form-encoded")
			return
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			reject(http.StatusBadRequest, "invalid_request", "client_id in the form differs from Basic's")
			return
		}
	}
	if !byCert && !s.clientOK(id, secret) {
		reject(http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		reject(http.StatusBadRequest, "invalid_request", "grant_type missing")
		return
	default:
		reject(http.StatusBadRequest, "unsupported_grant_type", "grant_type "+gt+" is not client_credentials")
		return
	}
	if sc := form.Get("scope"); sc != "" && len(s.opt.Scopes) > 0 {
		for _, one := range strings.Fields(sc) {
			if !contains(s.opt.Scopes, one) {
				reject(http.StatusBadRequest, "invalid_scope", "scope "+one+" is not granted to this client")
				return
			}
		}
	}
	tok, err := newToken()
	if err != nil {
		reject(http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	grant := tokenGrant{expiry: s.now().Add(s.opt.TokenTTL)}
	if byCert {
		grant.bound, grant.cert = true, thumbprint(r)
	}
	s.mu.Lock()
	s.tokens[tok] = grant
	s.issued++
	s.mu.Unlock()
	rec.Status = http.StatusOK
	rec.Verdict = Accepted
	s.record(rec)
	// §5.1: the answer holds a credential, so no cache may keep it.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, "application/json",
		tokenAnswer{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(s.opt.TokenTTL.Seconds())})
}

func (s *Server) clientOK(id, secret string) bool {
	if s.opt.ClientID == "" {
		return false
	}
	// Both compared whole, in constant time: a test VNFM that leaked the
	// secret's length through timing would be a poor model to test against.
	a := subtle.ConstantTimeCompare([]byte(id), []byte(s.opt.ClientID))
	b := subtle.ConstantTimeCompare([]byte(secret), []byte(s.opt.ClientSecret))
	return a&b == 1
}

// Client authentication methods, as Record.ClientAuth names them (the
// names of RFC 7591 §2 and RFC 8705 §2.1.1).
const (
	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
	AuthTLSClient   = "tls_client_auth"
)

// TokenPrefix starts every access token the VNFM issues, so that a test
// can find a token that leaked into a log, an error or a status by its
// prefix alone, without knowing the token.
const TokenPrefix = "tvnfm_"

// tokenGrant is an issued token: when it expires, and, for a client that
// authenticated by its certificate, the certificate it is bound to.
type tokenGrant struct {
	expiry time.Time
	bound  bool
	cert   [32]byte // SHA-256 of the certificate, RFC 8705 §3.1's x5t#S256
}

func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", errors.New("make a token: " + err.Error())
	}
	return TokenPrefix + hex.EncodeToString(b), nil
}

// certAuth checks RFC 8705 §2.1's PKI method for clientID: a verified
// client certificate whose subject's CommonName is ClientCertSubject.
// It returns why the client is refused, or "".
func (s *Server) certAuth(r *http.Request, clientID string) string {
	if s.opt.ClientCertSubject == "" || s.opt.ClientID == "" {
		return "no client authenticates by certificate here"
	}
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return "client_id without a secret needs a verified client certificate (RFC 8705)"
	}
	cn := r.TLS.PeerCertificates[0].Subject.CommonName
	a := subtle.ConstantTimeCompare([]byte(clientID), []byte(s.opt.ClientID))
	b := subtle.ConstantTimeCompare([]byte(cn), []byte(s.opt.ClientCertSubject))
	if a&b != 1 {
		return "the client certificate does not authenticate this client_id"
	}
	return ""
}

// thumbprint is the SHA-256 of the request's client certificate; zero
// without one.
func thumbprint(r *http.Request) [32]byte {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return [32]byte{}
	}
	return sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
}

// redactForm replaces the client_secret in a recorded form.
func redactForm(body []byte) string {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "(a form that does not parse)"
	}
	if _, ok := form["client_secret"]; ok {
		form.Set("client_secret", "REDACTED")
	}
	return form.Encode()
}

// TokensIssued counts the tokens the token endpoint gave out.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// ExpireTokens makes every token issued so far expired, so that the next
// request with one gets a 401 (a client must fetch a new one).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.tokens {
		delete(s.tokens, t)
	}
}

// authorized checks the request's Bearer token, as keystonemiddleware's
// oauth2_token filter does before the API sees the request.
func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.tokens[tok]
	if !ok {
		return false
	}
	if !s.now().Before(g.expiry) {
		delete(s.tokens, tok)
		return false
	}
	// RFC 8705 §3: a certificate-bound token is good only with its
	// certificate, so a stolen one is useless without the key.
	if g.bound && (thumbprint(r) != g.cert || r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
		return false
	}
	return true
}

// readBody reads a request's body, at most MaxBody bytes. On failure it
// answers (413 or 400), records it and returns false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, endpoint string) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err == nil {
		return b, true
	}
	rec := s.newRecord(endpoint, r, nil)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		rec.Status = http.StatusRequestEntityTooLarge
		rec.Verdict = Rejected + ": body larger than MaxBody"
	} else {
		rec.Status = http.StatusBadRequest
		rec.Verdict = Rejected + ": read body: " + err.Error()
	}
	s.record(rec)
	http.Error(w, rec.Verdict, rec.Status)
	return nil, false
}
