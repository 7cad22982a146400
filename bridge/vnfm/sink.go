// Package vnfm is the bridge's ETSI NFV-SOL 002/003 Heal sink: it asks the
// VNFM (OpenStack Tacker's v2 API, or any SOL002-conformant VNFM) to heal
// the VNFC an event names, authenticated by an OAuth 2.0 client-credentials
// token over TLS (mutual TLS optional), and follows the LCM operation
// occurrence that the accepted Heal started.
//
// What Tacker checks and answers is recorded, with its sources, in the
// project's research note vnfm.md (§1-4, §7).
package vnfm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/bridge/internal/outbound"
)

// Sink sends Heals. It implements delivery.Sink.
//
// Concurrency: Wants is called from one goroutine. Deliver is called
// concurrently for different subjects (VNFCs) and never twice at once for
// the same subject; the sink relies on that for its per-subject memory.
// Stats, Following and Close may be called from any goroutine.
//
// Deliver and the following of an accepted Heal: Deliver returns nil as
// soon as the VNFM answered 202, because the Heal is then delivered and
// must never be sent again (a re-POST starts a second rebuild: Tacker has
// no idempotency key). The LCM operation occurrence the Location names is
// followed by a goroutine of the sink, up to FollowTimeout, independently
// of the attempt's ctx (a VM rebuild lasts minutes, an attempt seconds);
// its end goes to Config.OnOutcome, to Stats and to the log. While it is
// followed, a Deliver for the same VNFC returns *delivery.Blocked, so that
// at most one Heal per VNFC is in flight, which Tacker no longer ensures
// itself (research §1.6).
type Sink struct {
	cfg    *settings
	client *http.Client
	tok    *tokens
	log    logrus.FieldLogger

	ctx    context.Context // ends the followers at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	ambiguous map[string]ambiguity  // by subject
	follows   map[string]*following // by subject
	batches   map[string]*batch     // by VNF instance: the one still open
	skipped   map[string]struct{}   // event ids Wants refused for lack of ids
	skipOrder []string
	stats     Stats
	closed    bool
}

var _ delivery.Sink = (*Sink)(nil)

// ambiguity is the memory of an attempt whose outcome is unknown: the
// request was sent, and then the connection broke, timed out, or a 5xx
// came (which a proxy may send after forwarding).
type ambiguity struct {
	eventID string
	since   time.Time // when the first ambiguous attempt began
}

type following struct {
	Follow
}

// Follow is a Heal being followed, as the status shows it.
type Follow struct {
	Subject        string    `json:"subject"`
	EventID        string    `json:"event_id"`
	VNFInstanceID  string    `json:"vnf_instance_id"`
	VNFCInstanceID string    `json:"vnfc_instance_id"`
	OpOccID        string    `json:"op_occ_id"`
	State          string    `json:"state,omitempty"` // the last operationState read, "" before the first
	Accepted       time.Time `json:"accepted,omitzero"`
}

// Outcome is how the following of an accepted Heal ended.
type Outcome struct {
	Follow
	// End is the final operationState (COMPLETED, FAILED, ROLLED_BACK, or
	// FAILED_TEMP, which waits for an operator), or why following stopped
	// without one: EndTimeout (FollowTimeout passed), EndLost (the
	// occurrence could not be read: 404, 403, a refused certificate),
	// EndNoLocation (the 202 named no occurrence), EndClosed (the sink
	// was closed).
	End string
	// Problem is the occurrence's error, when the VNFM gave one.
	Problem *ProblemDetails
	// Err says why following stopped early; nil with a final state.
	Err   error
	Ended time.Time
}

// Ends of a following that are not an operationState.
const (
	EndTimeout    = "timeout"
	EndLost       = "lost"
	EndNoLocation = "no_location"
	EndClosed     = "closed"
)

// Stats are the sink's counters since New, for /v1/status and the
// metrics. It never holds a secret.
type Stats struct {
	// Sent counts Heal POSTs put on the wire (one re-sent with a fresh
	// token after a 401 counts again).
	Sent uint64 `json:"sent"`
	// Accepted counts Heals the VNFM accepted: 202s, and Heals that the
	// look-up after an ambiguous attempt found (Found counts those).
	Accepted uint64 `json:"accepted"`
	Found    uint64 `json:"found"`
	// Ambiguous counts attempts whose outcome was unknown after the
	// request was sent.
	Ambiguous uint64 `json:"ambiguous"`
	// Retried counts attempts that ended in a Retry, Blocked those that
	// ended in a Blocked (409 another operation, or this VNFC's previous
	// Heal still followed).
	Retried uint64 `json:"retried"`
	Blocked uint64 `json:"blocked"`
	// Final counts the final failures by HTTP status ("403") or cause
	// ("tls", "token", "event").
	Final map[string]uint64 `json:"final,omitempty"`
	// Skipped counts events the policy wanted that lack a VNF or VNFC
	// instance id: never sent, as an empty vnfcInstanceId heals every
	// VNFC of the VNF.
	Skipped uint64 `json:"skipped"`
	// Operations counts the followed operations by Outcome.End.
	Operations map[string]uint64 `json:"operations,omitempty"`
	// Following is the number of Heals followed now.
	Following int `json:"following"`
}

// New checks cfg (every mistake at once, each naming its field), reads the
// secret, the CA and the client certificate, and returns the sink. Close
// it to stop the followers.
func New(cfg Config) (*Sink, error) {
	s, err := cfg.check()
	if err != nil {
		return nil, err
	}
	client := outbound.NewClient(s.tls, s.Timeout)
	ctx, cancel := context.WithCancel(context.Background())
	return &Sink{
		cfg:       s,
		client:    client,
		tok:       newTokens(s, client),
		log:       s.Log.WithField("sink", s.Name),
		ctx:       ctx,
		cancel:    cancel,
		ambiguous: map[string]ambiguity{},
		follows:   map[string]*following{},
		batches:   map[string]*batch{},
		skipped:   map[string]struct{}{},
		stats:     Stats{Final: map[string]uint64{}, Operations: map[string]uint64{}},
	}, nil
}

// Name is the sink's configured name.
func (s *Sink) Name() string { return s.cfg.Name }

// maxSkipMemory bounds the ids remembered so that a skipped event is
// logged and counted once, even when Wants sees it again.
const maxSkipMemory = 4096

// Wants reports whether e triggers a Heal: its type is in the policy and
// it names both the VNF instance and the VNFC instance. An event the
// policy wants without those ids is logged and counted once, and refused:
// a Heal without vnfcInstanceId would rebuild every VNFC of the VNF.
func (s *Sink) Wants(e delivery.Event) bool {
	if !s.cfg.policy[e.Type] {
		return false
	}
	if e.Data.VNFInstanceID != "" && e.Data.VNFCInstanceID != "" {
		return true
	}
	s.mu.Lock()
	_, seen := s.skipped[e.ID]
	if !seen {
		s.skipped[e.ID] = struct{}{}
		s.skipOrder = append(s.skipOrder, e.ID)
		if len(s.skipOrder) > maxSkipMemory {
			delete(s.skipped, s.skipOrder[0])
			s.skipOrder = s.skipOrder[1:]
		}
		s.stats.Skipped++
	}
	s.mu.Unlock()
	if !seen {
		s.log.WithFields(logrus.Fields{"event": e.ID, "type": e.Type, "subject": e.Subject,
			"vnf_instance": e.Data.VNFInstanceID, "vnfc_instance": e.Data.VNFCInstanceID}).
			Warn("no Heal: the event lacks the VNF or the VNFC instance id (a Heal without vnfcInstanceId would heal every VNFC)")
	}
	return false
}

// Resume implements delivery.Resumer: e was owed when an earlier bridge
// stopped, which may have sent its Heal and lost the answer with its
// crash. The first attempt looks for that Heal at the VNFM (by the cause's
// marker, else a Heal of the VNFC started after the fact) before it sends
// one, as after an ambiguous attempt of this bridge.
func (s *Sink) Resume(e delivery.Event) {
	if !s.cfg.policy[e.Type] || e.Data.VNFInstanceID == "" || e.Data.VNFCInstanceID == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ambiguous[e.Subject]; !ok {
		s.ambiguous[e.Subject] = ambiguity{eventID: e.ID, since: e.Time}
	}
}

// Deliver makes one attempt to have the VNFC healed. nil means the VNFM
// accepted it (202), or that a previous attempt whose answer was lost is
// found to have started it. See Sink for how the operation is then
// followed, and the package's tests for the classification of every
// answer.
func (s *Sink) Deliver(ctx context.Context, e delivery.Event) error {
	vnf, vnfc := e.Data.VNFInstanceID, e.Data.VNFCInstanceID
	switch {
	case !s.cfg.policy[e.Type]:
		return s.final("event", fmt.Errorf("heal: event type %q is not in the policy", e.Type))
	case vnf == "" || vnfc == "":
		return s.final("event", errors.New("heal: the event lacks the VNF or the VNFC instance id; a Heal without vnfcInstanceId would heal every VNFC"))
	case len(vnf) > maxIdentifier || len(vnfc) > maxIdentifier || !utf8.ValidString(vnf) || !utf8.ValidString(vnfc):
		return s.final("event", fmt.Errorf("heal: VNF instance id %.64q or VNFC instance id %.64q is not a SOL013 Identifier (1-255 characters)", vnf, vnfc))
	}
	log := s.log.WithFields(logrus.Fields{"event": e.ID, "subject": e.Subject, "vnf_instance": vnf, "vnfc_instance": vnfc})

	s.mu.Lock()
	if f := s.follows[e.Subject]; f != nil {
		f := f.Follow
		s.stats.Blocked++
		s.mu.Unlock()
		state := f.State
		if state == "" {
			state = "not read yet"
		}
		return &delivery.Blocked{Err: fmt.Errorf("heal of VNFC %s: its previous Heal (occurrence %s) is still followed, state %s", vnfc, f.OpOccID, state)}
	}
	amb, isAmb := s.ambiguous[e.Subject]
	if isAmb && amb.eventID != e.ID {
		// Another event's attempt: what it may have started is not this
		// event's Heal.
		delete(s.ambiguous, e.Subject)
		isAmb = false
	}
	s.mu.Unlock()

	marker := markerFor(e.ID)
	if isAmb {
		occ, err := s.lookup(ctx, vnf, vnfc, marker, amb.since, log)
		if err != nil {
			return s.count(err)
		}
		if occ != nil {
			log.WithField("occurrence", occ.ID).Info("the Heal of an attempt whose answer was lost is found at the VNFM: not sent again")
			s.mu.Lock()
			delete(s.ambiguous, e.Subject)
			s.stats.Found++
			s.mu.Unlock()
			s.accepted(e, occ.ID, nil, log)
			return nil
		}
	}

	started := time.Now()
	id, locErr, wrote, err := s.joinPost(ctx, e, marker)
	switch {
	case err == nil:
		s.mu.Lock()
		delete(s.ambiguous, e.Subject)
		s.mu.Unlock()
		s.accepted(e, id, locErr, log)
		return nil
	case wrote:
		s.mu.Lock()
		if _, ok := s.ambiguous[e.Subject]; !ok {
			s.ambiguous[e.Subject] = ambiguity{eventID: e.ID, since: started}
		}
		s.stats.Ambiguous++
		s.mu.Unlock()
		log.WithError(err).Warn("heal: the outcome is unknown (the request was sent, then no answer or a 5xx came); the next attempt looks for its occurrence first")
	default:
		var f *delivery.Final
		if errors.As(err, &f) {
			s.mu.Lock()
			delete(s.ambiguous, e.Subject)
			s.mu.Unlock()
			log.WithError(err).Error("heal refused for good")
		}
	}
	return s.count(err)
}

// count adds a failed attempt to the stats by its class. Final failures
// were counted where their key is known.
func (s *Sink) count(err error) error {
	c, _ := delivery.Classify(err)
	s.mu.Lock()
	switch c {
	case delivery.Transient:
		s.stats.Retried++
	case delivery.IsBlocked:
		s.stats.Blocked++
	}
	s.mu.Unlock()
	return err
}

// final counts and returns a Final.
func (s *Sink) final(key string, err error) error {
	s.mu.Lock()
	s.stats.Final[key]++
	s.mu.Unlock()
	return &delivery.Final{Err: err}
}

// markerFor is what the cause carries to name the event, so that a
// look-up recognises the occurrence a lost answer started. A long id is
// replaced by its digest, to leave room in the 255 characters.
func markerFor(id string) string {
	if len(id) > 96 || !utf8.ValidString(id) {
		sum := sha256.Sum256([]byte(id))
		id = "sha256:" + hex.EncodeToString(sum[:16])
	}
	return "[vnfha event " + id + "]"
}

// healRequest is HealVnfRequest_V200 as the sink fills it.
type healRequest struct {
	VNFCInstanceID   []string       `json:"vnfcInstanceId"`
	Cause            string         `json:"cause"`
	AdditionalParams map[string]any `json:"additionalParams,omitempty"`
}

// cause is the configured cause (or the default one), cut on a rune
// boundary so that with the marker it fits the schema's 255 characters.
func (s *Sink) cause(e delivery.Event, marker string) string {
	base := s.cfg.Cause
	if base == "" {
		base = fmt.Sprintf("vnfha: %s of %s", e.Type, e.Subject)
		if n := strings.Count(marker, "[vnfha event ") - 1; n > 0 {
			base += fmt.Sprintf(" and %d more", n)
		}
	}
	base = strings.ToValidUTF8(base, "\uFFFD")
	room := maxCause - utf8.RuneCountInString(marker) - 1
	if room <= 0 {
		return truncate(marker, maxCause, true)
	}
	return truncate(base, room, true) + " " + marker
}

func (s *Sink) healBody(evs []delivery.Event, markers []string) ([]byte, error) {
	return json.Marshal(healRequest{
		VNFCInstanceID:   vnfcIDs(evs),
		Cause:            s.cause(evs[0], strings.Join(markers, " ")),
		AdditionalParams: s.cfg.params,
	})
}

// vnfcIDs lists the events' VNFCs, each once, in order.
func vnfcIDs(evs []delivery.Event) []string {
	var ids []string
	for _, e := range evs {
		if !slices.Contains(ids, e.Data.VNFCInstanceID) {
			ids = append(ids, e.Data.VNFCInstanceID)
		}
	}
	return ids
}

// batch is the Heals of VNFCs of one VNF instance that go out as one
// request. Its fields after done is closed are the request's outcome,
// the same for every event in it.
type batch struct {
	events  []delivery.Event
	markers []string
	open    bool // still taking events
	done    chan struct{}

	id     string
	locErr error
	wrote  bool
	err    error
}

// minCauseRoom is what a batch leaves of the cause for its text: the
// markers take the rest, and an event whose marker does not fit goes in
// the next batch.
const minCauseRoom = 32

// joinPost sends e's Heal together with those of the other VNFCs of its
// VNF instance that come within the Coalesce window: the first opens a
// batch and sends it when the window ends; the others join it and take
// its outcome. A node loss fails several VNFCs of a VNF at once, and
// Tacker would answer every Heal but one 409 until the first is done.
func (s *Sink) joinPost(ctx context.Context, e delivery.Event, marker string) (string, error, bool, error) {
	if s.cfg.Coalesce <= 0 {
		return s.post(ctx, []delivery.Event{e}, []string{marker})
	}
	vnf := e.Data.VNFInstanceID
	s.mu.Lock()
	if b := s.batches[vnf]; b != nil && b.open && fits(b.markers, marker) {
		b.events = append(b.events, e)
		b.markers = append(b.markers, marker)
		s.mu.Unlock()
		select {
		case <-b.done:
			return b.id, b.locErr, b.wrote, b.err
		case <-ctx.Done():
			// The batch may still send it: as good as sent, with the
			// answer unknown, so that the next attempt looks first.
			return "", nil, true, &delivery.Retry{Err: fmt.Errorf("heal of VNFC %s, sent with others of VNF %s: %w", e.Data.VNFCInstanceID, vnf, ctx.Err())}
		}
	}
	b := &batch{events: []delivery.Event{e}, markers: []string{marker}, open: true, done: make(chan struct{})}
	s.batches[vnf] = b
	s.mu.Unlock()
	t := time.NewTimer(s.cfg.Coalesce)
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	s.mu.Lock()
	b.open = false
	if s.batches[vnf] == b {
		delete(s.batches, vnf)
	}
	evs, markers := b.events, b.markers
	s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		b.err = &delivery.Retry{Err: fmt.Errorf("heal of VNF %s: %w before it was sent", vnf, err)}
	} else {
		b.id, b.locErr, b.wrote, b.err = s.post(ctx, evs, markers)
	}
	close(b.done)
	return b.id, b.locErr, b.wrote, b.err
}

// fits says whether one more marker leaves the cause room for its text.
func fits(markers []string, marker string) bool {
	n := utf8.RuneCountInString(marker)
	for _, m := range markers {
		n += utf8.RuneCountInString(m) + 1
	}
	return n+minCauseRoom <= maxCause
}

func (s *Sink) url(path string) string {
	return s.cfg.apiRoot.String() + path
}

// post sends the Heal once (twice on a 401: once more with a fresh token)
// and classifies the answer. On a 202 it returns the occurrence id, or
// why the Location gave none. wrote says that a failure came after the
// request was sent, so the VNFM may have acted on it.
func (s *Sink) post(ctx context.Context, evs []delivery.Event, markers []string) (id string, locErr error, wrote bool, err error) {
	vnf := evs[0].Data.VNFInstanceID
	body, err := s.healBody(evs, markers)
	if err != nil {
		return "", nil, false, s.final("event", fmt.Errorf("heal: encode the request: %w", err))
	}
	u := s.url("/vnflcm/v2/vnf_instances/" + url.PathEscape(vnf) + "/heal")
	what := fmt.Sprintf("heal VNFC %s of VNF instance %s", strings.Join(vnfcIDs(evs), ","), vnf)
	ans, wrote, err := s.request(ctx, http.MethodPost, u, body, maxBody, true)
	if err != nil {
		return "", nil, wrote, s.transportError(what, err)
	}
	if ans.status == http.StatusAccepted {
		id, locErr := opOccIDFromLocation(ans.header.Get("Location"))
		return id, locErr, false, nil
	}
	if ans.status/100 == 2 {
		return "", fmt.Errorf("the VNFM answered %d, not 202: no occurrence to follow", ans.status), false, nil
	}
	return "", nil, ans.status >= 500, s.statusError(what, ans)
}

// transportError classifies a failure without an answer.
func (s *Sink) transportError(what string, err error) error {
	var te *tokenError
	if errors.As(err, &te) {
		if te.retry {
			return &delivery.Retry{Err: fmt.Errorf("%s: %w", what, te)}
		}
		return s.final("token", fmt.Errorf("%s: %w", what, te))
	}
	if outbound.Classify(err) == outbound.TrustFailure {
		return s.final("tls", fmt.Errorf("%s: TLS authentication failed, nothing was sent: %s", what, clean(outbound.StripURL(err).Error())))
	}
	return &delivery.Retry{Err: fmt.Errorf("%s: %s", what, clean(outbound.StripURL(err).Error()))}
}

// statusError classifies an answer other than 2xx (research §1.6, §4).
func (s *Sink) statusError(what string, a *answer) error {
	p := parseProblem(a.header.Get("Content-Type"), a.body)
	code := a.status
	// A peer may echo the request: its token or the secret never go on.
	msg := s.tok.scrub(fmt.Sprintf("%s: %d %s: %s", what, code, http.StatusText(code), p))
	if a.token != "" {
		msg = strings.ReplaceAll(msg, a.token, "[token]")
	}
	after := outbound.RetryAfter(a.header.Get("Retry-After"), time.Now())
	detail := ""
	if p != nil {
		detail = strings.ToLower(p.Detail)
	}
	switch {
	case code == http.StatusConflict:
		if strings.Contains(detail, "isn't instantiated") || strings.Contains(detail, "not instantiated") {
			return s.final("409", errors.New(msg+" (the VNF instance is not instantiated)"))
		}
		return &delivery.Blocked{Err: errors.New(msg + " (another LCM operation of the VNF instance is in progress, or one waits in FAILED_TEMP for an operator)")}
	case code == http.StatusUnauthorized:
		return s.final("401", errors.New(msg+" (refused with a fresh token: check the OAuth client and the VNFM's token filter)"))
	case code == http.StatusBadRequest && strings.Contains(detail, "vnfcinstanceid(") && strings.Contains(detail, "does not exist"):
		return s.final("400", errors.New(msg+" (the VNFM knows no such VNFC: the configured vnfcInstanceId is wrong, or the VNFC was re-created with a new id; it is Tacker's instantiatedVnfInfo.vnfcInfo[].id)"))
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return &delivery.Retry{After: after, Err: errors.New(msg)}
	case code/100 == 3:
		return s.final(fmt.Sprint(code), fmt.Errorf("%s (redirect to %q not followed: check api_root)", msg, clean(a.header.Get("Location"))))
	case code/100 == 4:
		return s.final(fmt.Sprint(code), errors.New(msg))
	default:
		return &delivery.Retry{After: after, Err: errors.New(msg)}
	}
}

// Bounds on what is read from a peer.
const (
	maxBody     = 64 << 10 // one occurrence, one ProblemDetails
	maxListBody = 8 << 20  // a list of occurrences
)

// answer is a response read whole (bounded).
type answer struct {
	status    int
	header    http.Header
	body      []byte
	truncated bool
	token     string // the access token sent, to scrub it from what the peer says
}

// request sends one request with the bearer token, and once more with a
// fresh token if the first got 401. The second 401 is returned as the
// answer. wrote reports, for an error, whether the request had been
// written before it.
func (s *Sink) request(ctx context.Context, method, u string, body []byte, limit int64, isPost bool) (*answer, bool, error) {
	for try := 0; ; try++ {
		tok, err := s.tok.get(ctx)
		if err != nil {
			return nil, false, err
		}
		ans, wrote, err := s.once(ctx, method, u, body, limit, "Bearer "+tok.AccessToken, isPost)
		if err != nil {
			return nil, wrote, err
		}
		ans.token = tok.AccessToken
		if ans.status == http.StatusUnauthorized && try == 0 {
			s.tok.drop(tok)
			continue
		}
		return ans, false, nil
	}
}

func (s *Sink) once(ctx context.Context, method, u string, body []byte, limit int64, auth string, isPost bool) (*answer, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		},
	})
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, false, fmt.Errorf("build the request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Version", "2.0.0")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", auth)
	resp, err := s.client.Do(req)
	if isPost && (err == nil || wrote.Load()) {
		s.mu.Lock()
		s.stats.Sent++
		s.mu.Unlock()
	}
	if err != nil {
		return nil, wrote.Load(), err
	}
	// The status is the answer even when its body breaks: a body that
	// does not parse is then handled as such by the caller.
	b, truncated, _ := outbound.ReadBody(resp, limit)
	return &answer{status: resp.StatusCode, header: resp.Header, body: b, truncated: truncated}, false, nil
}
