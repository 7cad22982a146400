// Package vnfm is the test VNFM: a small HTTP service that behaves like
// OpenStack Tacker's v2 API where the bridge talks to it (research/vnfm.md
// §1-5), and records everything it received, for the unit tests of the
// bridge's sinks (in process, through Handler) and for the end-to-end tests
// (as the process test/vnfm/cmd/vnfm on a lab host).
//
// It serves:
//
//	POST /token                                      OAuth 2.0 client credentials (RFC 6749 §4.4),
//	                                                 the client authenticated by a secret or by its
//	                                                 TLS certificate (RFC 8705 §2)
//	POST /vnflcm/v2/vnf_instances/{id}/heal          Heal, checked as Tacker checks it
//	GET  /vnflcm/v2/vnf_instances/{id}               the instance and its vnfcInfo ids
//	GET  /vnflcm/v2/vnf_lcm_op_occs                  the occurrences, with SOL013 §5.2 filters (filter.go)
//	GET  /vnflcm/v2/vnf_lcm_op_occs/{id}             the LCM operation occurrence
//	POST /vnflcm/v2/vnf_lcm_op_occs/{id}/fail|retry  an operator's way out of FAILED_TEMP
//	POST /webhook (Options.WebhookPaths)             signed CloudEvents (Standard Webhooks)
//	     /control/...                                switches and the record (control.go)
//
// It is a test double of the VNFM, which is outside the suite (DESIGN.md);
// nothing in it stands in for Pacemaker, corosync or HAProxy.
package vnfm

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Tacker's defaults, which the test VNFM keeps unless told otherwise.
const (
	// APIVersion is the only Version header value the v2 API accepts.
	APIVersion = "2.0.0"
	// DefaultTokenTTL is Keystone's expires_in (research §3).
	DefaultTokenTTL = time.Hour
	// DefaultWebhookPath is where the webhook receiver listens.
	DefaultWebhookPath = "/webhook"
	// WebhookTolerance is how far a webhook-timestamp may be from now, as
	// the Standard Webhooks reference library allows.
	WebhookTolerance = 5 * time.Minute
	// MaxBody bounds what a request may carry; a larger one is refused
	// with 413 and recorded, so a runaway sender cannot eat the memory.
	MaxBody = 1 << 20
)

// Operation states (SOL002/003 LcmOperationStateType, as Tacker names them).
const (
	Starting   = "STARTING"
	Processing = "PROCESSING"
	Completed  = "COMPLETED"
	FailedTemp = "FAILED_TEMP"
	Failed     = "FAILED"
	// RolledBack is where Tacker ends an operation whose grant was
	// refused, or one an operator rolled back from FAILED_TEMP.
	RolledBack = "ROLLED_BACK"
)

// Options configure a Server. The zero value is a VNFM that knows no
// instance, accepts no client and no webhook.
type Options struct {
	// ClientID and ClientSecret are the one OAuth 2.0 client the token
	// endpoint accepts.
	ClientID, ClientSecret string
	// ClientCertSubject lets ClientID authenticate by its TLS client
	// certificate instead of the secret (RFC 8705 §2.1, tls_client_auth):
	// a token request with client_id and no secret is accepted when the
	// connection carries a verified certificate whose subject's
	// CommonName is this. The token it gets is bound to that certificate
	// (§3): the API accepts it only over a connection that presents the
	// same one, as Keystone's oauth2_mtls_token filter does. Empty: no
	// client authenticates by certificate. The server's TLS configuration
	// must verify client certificates (PKI.ServerTLS(true)).
	ClientCertSubject string
	// Scopes are the scopes a token request may ask for (Keycloak's
	// "tacker_scope"); a request for another gets 400 invalid_scope
	// (RFC 6749 §5.2). Empty: any scope is granted.
	Scopes []string
	// TokenTTL is the lifetime of an issued token (expires_in);
	// 0 means DefaultTokenTTL.
	TokenTTL time.Duration
	// WebhookSecret is the key webhook signatures are checked with: the
	// raw bytes, or "whsec_" followed by their base64 as Standard Webhooks
	// writes secrets (see WebhookKey). Empty: every webhook is refused.
	WebhookSecret []byte
	// WebhookPaths are the receivers' paths; empty means
	// [DefaultWebhookPath]. Each is a receiver of its own in the record
	// (Record.Path), all with the same secret.
	WebhookPaths []string
	// Endpoint is the base URL the Location of a 202 is built from, as
	// Tacker builds it from its configured CONF.v2_vnfm.endpoint and not
	// from the request's Host. Empty: the request's own scheme and Host.
	Endpoint string
	// Instances are the VNF instances, by vnfInstanceId.
	Instances map[string]Instance
	// Progression is how every new operation moves to its final state.
	Progression Progression
	// AcceptConcurrent makes a Heal of an instance whose operation is
	// still running be accepted (202), as Tacker does since it dropped
	// the heal's instance lock (research §1.6). The default refuses it
	// with 409 OtherOperationInProgress, as Tacker did with the lock. A
	// FAILED_TEMP operation blocks either way.
	AcceptConcurrent bool
	// Now is the clock (token expiry, webhook timestamps, operation
	// times); nil means time.Now.
	Now func() time.Time
}

// Instance is one VNF instance the VNFM knows.
type Instance struct {
	// VNFCs are its instantiatedVnfInfo.vnfcInfo[].id: what a Heal's
	// vnfcInstanceId must name.
	VNFCs []string `json:"vnfcs"`
	// NotInstantiated makes every Heal of it a 409
	// VnfInstanceIsNotInstantiated.
	NotInstantiated bool `json:"notInstantiated,omitempty"`
}

// Progression is how an operation goes from STARTING through PROCESSING to
// Final. It reaches Final at the Polls-th GET of it and once After has
// passed since it started (each condition only when set); with neither
// set, at the first GET. Before, the first GET shows STARTING and later
// ones PROCESSING.
type Progression struct {
	Polls int
	After time.Duration
	// Final is COMPLETED (the default); FAILED_TEMP, which carries an
	// error and blocks the instance until a fail or retry; FAILED (with
	// an error) or ROLLED_BACK, which end it for good.
	Final string
}

// Server is the test VNFM. Its methods may be called from any goroutine.
type Server struct {
	opt     Options
	now     func() time.Time
	mux     *http.ServeMux
	closing chan struct{} // closed by Close: releases hung requests
	once    sync.Once

	mu          sync.Mutex
	instances   map[string]Instance
	progression Progression
	tokens      map[string]tokenGrant
	issued      int
	ops         map[string]*op
	opOrder     []string
	faults      []*Fault
	rec         recorder
}

// New returns a Server ready to serve through Handler. It panics on a
// webhook path CheckWebhookPath refuses: a test's own mistake.
func New(o Options) *Server {
	s := &Server{
		opt:         o,
		now:         o.Now,
		closing:     make(chan struct{}),
		instances:   make(map[string]Instance),
		progression: o.Progression,
		tokens:      make(map[string]tokenGrant),
		ops:         make(map[string]*op),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.opt.TokenTTL <= 0 {
		s.opt.TokenTTL = DefaultTokenTTL
	}
	for id, in := range o.Instances {
		s.instances[id] = cloneInstance(in)
	}
	s.rec.init()
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/token", s.serveToken)
	s.mux.HandleFunc("/vnflcm/v2/vnf_instances/{id}/heal", s.serveHeal)
	s.mux.HandleFunc("/vnflcm/v2/vnf_instances/{id}", s.serveInstance)
	s.mux.HandleFunc("/vnflcm/v2/vnf_lcm_op_occs", s.serveOpList)
	s.mux.HandleFunc("/vnflcm/v2/vnf_lcm_op_occs/{id}", s.serveOp)
	s.mux.HandleFunc("/vnflcm/v2/vnf_lcm_op_occs/{id}/{task}", s.serveOpTask)
	paths := o.WebhookPaths
	if len(paths) == 0 {
		paths = []string{DefaultWebhookPath}
	}
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] {
			panic(fmt.Sprintf("vnfm.New: webhook path %q twice", p))
		}
		seen[p] = true
		if err := CheckWebhookPath(p); err != nil {
			panic("vnfm.New: " + err.Error())
		}
		s.mux.HandleFunc(p, s.serveWebhook)
	}
	s.mux.HandleFunc("/control/", s.serveControl)
	return s
}

// Handler serves the whole API. Every response carries Version: 2.0.0, as
// every Tacker v2 response does.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Version", APIVersion)
		lw := &loseWriter{ResponseWriter: w}
		s.mux.ServeHTTP(lw, r)
		if lw.lose {
			// A Lose switch: the request was served, its answer is
			// not sent, and the connection is closed.
			panic(http.ErrAbortHandler)
		}
	})
}

// Close releases every request held by a hang or a delay (they end without
// an answer) and makes later ones end at once. Call it before closing the
// http.Server (or httptest.Server), whose Close waits for the handlers.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.closeState()
	})
}

// SetInstance adds or replaces a VNF instance, e.g. to change its VNFC ids
// as a re-created VNFC changes them.
func (s *Server) SetInstance(id string, in Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instances[id] = cloneInstance(in)
}

// SetProgression changes how operations started from now on progress.
func (s *Server) SetProgression(p Progression) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.progression = p
}

func cloneInstance(in Instance) Instance {
	in.VNFCs = append([]string(nil), in.VNFCs...)
	return in
}

var webhookPathRE = regexp.MustCompile(`^/[A-Za-z0-9._~/-]*$`)

// CheckWebhookPath reports why p cannot be a webhook receiver's path: it
// must be an absolute path of plain characters (no ServeMux wildcard or
// method), outside the API's own paths.
func CheckWebhookPath(p string) error {
	if !webhookPathRE.MatchString(p) {
		return fmt.Errorf("webhook path %q is not /[A-Za-z0-9._~/-]*", p)
	}
	for _, api := range []string{"/token", "/control/", "/vnflcm/"} {
		if p == api || strings.HasPrefix(p, api) || p == strings.TrimSuffix(api, "/") || p == "/" {
			return fmt.Errorf("webhook path %q collides with the VNFM's API", p)
		}
	}
	return nil
}
