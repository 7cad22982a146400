package vnfm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/vnfha/vnfha/bridge/internal/outbound"
)

// tokens gets and caches the OAuth 2.0 client-credentials token. The
// library's ReuseTokenSource decides when the cached token has expired
// (it refreshes 10 s early); a 401 from the VNFM drops the token that got
// it, so the next request fetches a new one.
//
// Deliver runs concurrently for different subjects, so one fetch serves
// everyone who waits for it: the lock is a channel, so that waiting for
// it honours each caller's ctx.
type tokens struct {
	cc     clientcredentials.Config
	client *http.Client
	secret string // only to scrub it from anything a peer echoed back
	// forms are the secret's other spellings a peer may echo: form-
	// encoded (RFC 6749 §2.3.1 encodes it before Basic), and the Basic
	// credential whole, base64 of id:secret.
	forms []string

	lock   chan struct{}
	mu     sync.Mutex
	cached *oauth2.Token
}

func newTokens(s *settings, client *http.Client) *tokens {
	style := oauth2.AuthStyleInHeader
	if s.inParams {
		style = oauth2.AuthStyleInParams
	}
	return &tokens{
		cc: clientcredentials.Config{
			ClientID:     s.ClientID,
			ClientSecret: s.secret,
			TokenURL:     s.TokenURL,
			Scopes:       s.Scopes,
			AuthStyle:    style,
		},
		client: client,
		secret: s.secret,
		forms:  secretForms(s.ClientID, s.secret),
		lock:   make(chan struct{}, 1),
	}
}

// get returns a valid token, fetching one when none is cached or the
// cached one expired.
func (t *tokens) get(ctx context.Context) (*oauth2.Token, error) {
	select {
	case t.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, &tokenError{err: fmt.Errorf("wait for the token: %w", ctx.Err()), retry: true}
	}
	defer func() { <-t.lock }()
	t.mu.Lock()
	cached := t.cached
	t.mu.Unlock()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, t.client)
	tok, err := oauth2.ReuseTokenSource(cached, t.cc.TokenSource(ctx)).Token()
	if err != nil {
		return nil, t.classify(err)
	}
	if tok.AccessToken == "" || strings.ContainsAny(tok.AccessToken, "\r\n") {
		return nil, &tokenError{err: errors.New("the token endpoint's answer has no usable access_token")}
	}
	if !strings.EqualFold(tok.Type(), "Bearer") {
		return nil, &tokenError{err: fmt.Errorf("the token endpoint gave a %.32q token, not a Bearer token", tok.Type())}
	}
	t.mu.Lock()
	t.cached = tok
	t.mu.Unlock()
	return tok, nil
}

// drop forgets tok after a 401, unless another request already replaced
// it (then the new one is tried first).
func (t *tokens) drop(tok *oauth2.Token) {
	t.mu.Lock()
	if t.cached == tok {
		t.cached = nil
	}
	t.mu.Unlock()
}

// tokenError is a failure to get a token. retry tells a transient one
// (the endpoint unreachable, a 5xx) from one that the config must fix
// (invalid_client, an untrusted certificate).
type tokenError struct {
	err   error
	retry bool
}

func (e *tokenError) Error() string { return "get an OAuth 2.0 token: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// classify turns the library's error into a tokenError whose text holds
// the status and RFC 6749's error code and description, but never the
// body as such (a peer might echo the request) nor the secret.
func (t *tokens) classify(err error) *tokenError {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := 0
		st := "no status"
		if re.Response != nil {
			code = re.Response.StatusCode
			st = re.Response.Status
		}
		// Scrubbed before it is cut: a secret cut in two would show half.
		msg := "the token endpoint answered " + clean(t.scrub(st))
		if re.ErrorCode != "" {
			msg += ": " + clean(t.scrub(re.ErrorCode))
			if re.ErrorDescription != "" {
				msg += " (" + truncate(clean(t.scrub(re.ErrorDescription)), 200, false) + ")"
			}
		}
		retry := code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
		if code/100 == 2 && re.ErrorCode == "" {
			retry = true // odd, but not a refusal
		}
		return &tokenError{err: errors.New(msg), retry: retry}
	}
	// A transport error may quote what the peer sent (a malformed header
	// line, at any length): one bounded line, the secret scrubbed first.
	msg := clean(t.scrub(outbound.StripURL(err).Error()))
	return &tokenError{err: errors.New(msg), retry: outbound.Classify(err) != outbound.TrustFailure}
}

// scrub replaces the secret, in any of its spellings, wherever a peer
// may have put it.
func (t *tokens) scrub(s string) string {
	if t.secret == "" {
		return s
	}
	for _, f := range t.forms {
		s = strings.ReplaceAll(s, f, "[secret]")
	}
	return s
}

// secretForms lists the spellings of secret a token endpoint sees or a
// peer may echo, longest first so that none is left half replaced.
func secretForms(id, secret string) []string {
	if secret == "" {
		return nil
	}
	basic := func(id, sec string) string { return base64.StdEncoding.EncodeToString([]byte(id + ":" + sec)) }
	forms := []string{
		basic(url.QueryEscape(id), url.QueryEscape(secret)), basic(id, secret),
		url.QueryEscape(secret), url.PathEscape(secret), secret,
	}
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(forms)
}
