package vnfm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// Endpoints, as Record.Endpoint and Fault.Endpoint name them.
const (
	EndpointToken    = "token"
	EndpointHeal     = "heal"
	EndpointInstance = "instance" // GET of a VNF instance
	EndpointLCM      = "lcm"      // GET of an LCM operation occurrence, and its tasks
	EndpointLCMList  = "lcm_list" // GET of the occurrences, filtered
	EndpointWebhook  = "webhook"  // every webhook receiver; Record.Path tells which
)

// Verdicts, the start of Record.Verdict.
const (
	Accepted = "accepted" // answered 2xx as the real thing would
	Rejected = "rejected" // refused by a check; the rest of the verdict says which
	Faulted  = "fault"    // answered by a switch (Fault); the rest says how
)

// Record is one request the VNFM received and what it did with it.
type Record struct {
	Seq      int    `json:"seq"` // 1, 2, ... in the order received
	Endpoint string `json:"endpoint"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	// Query is the request's raw query (a list's filter), if any.
	Query string    `json:"query,omitempty"`
	Time  time.Time `json:"time"`
	// Header is the request's header without Authorization (and Cookie):
	// what a test may look at without handling a secret.
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
	// Status is the answer's status; 0 for a request held or dropped.
	Status int `json:"status"`
	// Verdict is Accepted, or Rejected or Faulted followed by ": " and
	// why.
	Verdict string `json:"verdict"`
	// EventID is a webhook's id (webhook-id, and the CloudEvent's id once
	// verified); for an accepted Heal, the operation's id.
	EventID string `json:"eventId,omitempty"`
	// ClientAuth is how a token request authenticated its client
	// (AuthSecretBasic, AuthSecretPost, AuthTLSClient); "" when it did
	// not get that far.
	ClientAuth string `json:"clientAuth,omitempty"`
	// Lost says that the request was served but its answer never sent:
	// a Lose switch closed the connection instead.
	Lost bool `json:"lost,omitempty"`
	// VNFInstanceID and VNFCInstanceIDs are what a Heal named.
	VNFInstanceID   string   `json:"vnfInstanceId,omitempty"`
	VNFCInstanceIDs []string `json:"vnfcInstanceIds,omitempty"`
}

// OK reports whether the request was accepted.
func (r Record) OK() bool { return r.Verdict == Accepted }

type recorder struct {
	records []Record
	changed chan struct{} // closed and replaced on every new record
	state   *os.File      // nil: the record lives in memory only
}

func (rc *recorder) init() { rc.changed = make(chan struct{}) }

// add appends r (its Seq set) and wakes the waiters. The caller holds s.mu.
func (rc *recorder) add(r Record) error {
	r.Seq = len(rc.records) + 1
	rc.records = append(rc.records, r)
	close(rc.changed)
	rc.changed = make(chan struct{})
	if rc.state == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	if _, err := rc.state.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("append record to %s: %w", rc.state.Name(), err)
	}
	return nil
}

// OpenState keeps the record in the file path as well (JSON lines): the
// records already there are loaded, and every new one is appended, so that
// a VNFM restarted in a test (the VNFM down, then up) still shows what it
// received before. From the first line that is not a whole record on (a
// line torn by a crash mid-write), the file is cut.
func (s *Server) OpenState(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rec.state != nil {
		return errors.New("the state file is already open")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open VNFM state: %w", err)
	}
	// A record is whole only with its newline: the writer writes both
	// in one write, so a line without one was torn by a crash.
	var loaded []Record
	rd := bufio.NewReader(f)
	var good int64
	for {
		line, err := rd.ReadBytes('\n')
		if err != nil {
			break // io.EOF, with a torn line or none
		}
		var r Record
		if json.Unmarshal(line, &r) != nil {
			break
		}
		loaded = append(loaded, r)
		good += int64(len(line))
	}
	// Cut what did not parse, so the next record starts on a line of its own.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return fmt.Errorf("truncate VNFM state %s: %w", path, err)
	}
	s.rec.records = append(loaded, s.rec.records...)
	for i := range s.rec.records {
		s.rec.records[i].Seq = i + 1
	}
	s.rec.state = f
	return nil
}

// Received returns a copy of every request received so far.
func (s *Server) Received() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.rec.records...)
}

// ResetReceived forgets what was received (not the state file's past).
func (s *Server) ResetReceived() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec.records = nil
}

// Events counts the accepted webhook deliveries by event id: a test checks
// that every id it expects is there (none missing) and how often (repeats
// are allowed: delivery is at least once).
func (s *Server) Events() map[string]int {
	return countEvents(s.Received())
}

func countEvents(recs []Record) map[string]int {
	n := make(map[string]int)
	for _, r := range recs {
		if r.Endpoint == EndpointWebhook && r.OK() {
			n[r.EventID]++
		}
	}
	return n
}

// Heals returns the accepted Heal requests.
func (s *Server) Heals() []Record {
	var out []Record
	for _, r := range s.Received() {
		if r.Endpoint == EndpointHeal && r.OK() {
			out = append(out, r)
		}
	}
	return out
}

// Wait blocks until cond holds for the records received so far, or ctx
// ends; it returns the records cond last saw. It wakes on each new record
// rather than polling, so a test bounds it with ctx's deadline only.
func (s *Server) Wait(ctx context.Context, cond func([]Record) bool) ([]Record, error) {
	for {
		s.mu.Lock()
		recs := append([]Record(nil), s.rec.records...)
		changed := s.rec.changed
		s.mu.Unlock()
		if cond(recs) {
			return recs, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return recs, fmt.Errorf("wait for the VNFM's record: %w", context.Cause(ctx))
		}
	}
}

// record notes a request and its outcome.
func (s *Server) record(r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.rec.add(r); err != nil {
		// The record in memory is whole; only the file lags. A test
		// reading the file would miss this one, so say it loudly.
		fmt.Fprintf(os.Stderr, "vnfm: %v\n", err)
	}
}

// begin reads a request's body, starts its record and applies the
// switches. It returns false when the request is done with (refused for
// its size, or answered by a switch).
func (s *Server) begin(w http.ResponseWriter, r *http.Request, endpoint string) (Record, []byte, bool) {
	body, ok := s.readBody(w, r, endpoint)
	if !ok {
		return Record{}, nil, false
	}
	rec := s.newRecord(endpoint, r, body)
	switch endpoint {
	case EndpointToken:
		rec.Body = redactForm(body) // the form may carry the client secret
	case EndpointHeal:
		rec.VNFInstanceID = r.PathValue("id")
	case EndpointWebhook:
		rec.EventID = r.Header.Get("webhook-id")
	}
	if s.applyFault(w, r, &rec, body) {
		return Record{}, nil, false
	}
	return rec, body, true
}

// newRecord starts the record of r with what every endpoint keeps.
func (s *Server) newRecord(endpoint string, r *http.Request, body []byte) Record {
	h := r.Header.Clone()
	h.Del("Authorization")
	h.Del("Cookie")
	return Record{
		Endpoint: endpoint,
		Method:   r.Method,
		Path:     r.URL.Path,
		Query:    r.URL.RawQuery,
		Time:     s.now(),
		Header:   h,
		Body:     string(body),
	}
}

// closeState closes the state file, with the Server.
func (s *Server) closeState() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rec.state != nil {
		s.rec.state.Close()
		s.rec.state = nil
	}
}
