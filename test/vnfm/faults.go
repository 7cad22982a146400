package vnfm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxFaultDelay bounds Fault.Delay: a test that wants longer wants Hang.
const MaxFaultDelay = 10 * time.Minute

// Fault is a switch: how the VNFM answers the next requests to an
// endpoint instead of (or before) answering them as Tacker would.
type Fault struct {
	// Endpoint is one of the Endpoint constants; Path, if set, narrows
	// it to requests to that path (one webhook receiver of several).
	Endpoint string
	Path     string
	// Status answers this status (with a body fitting the endpoint: a
	// ProblemDetails, 409 as OtherOperationInProgress, 401 as
	// keystonemiddleware's); RetryAfter, in seconds, adds a Retry-After.
	Status     int
	RetryAfter int
	// Delay holds the answer that long (until the client gives up or the
	// Server closes); with no Status, the request is then served as usual.
	Delay time.Duration
	// Hang never answers: the request is held until the client gives up
	// or the Server closes, and the connection is then closed.
	Hang bool
	// Drop closes the connection without an answer, once the request
	// is read: the request was not acted on.
	Drop bool
	// Lose serves the request as usual (a Heal starts its operation)
	// and then closes the connection instead of answering: the request
	// was acted on, and its answer is lost. The record says Lost.
	Lose bool
	// Header, ContentType and Body replace what goes with Status: a
	// Location for a 3xx or a 202, an HTML page, a body that lies or is
	// huge. Without Body, the answer's body fits the endpoint.
	Header      map[string]string
	ContentType string
	Body        string
	// Echo answers Status (4xx or 5xx) with a body that repeats what the
	// request carried: its Authorization header (decoded when it is
	// Basic), and its body, which may hold a client secret. A careless
	// or hostile peer does that; the record keeps no secret still.
	Echo bool
	// Times is how many requests the fault applies to; 0 means every one
	// until ClearFaults.
	Times int

	used int
}

// faultJSON is a Fault as the control API takes it: the delay is a Go
// duration ("1.5s").
type faultJSON struct {
	Endpoint   string `json:"endpoint"`
	Path       string `json:"path,omitempty"`
	Status     int    `json:"status,omitempty"`
	RetryAfter int    `json:"retryAfter,omitempty"`
	Delay      string `json:"delay,omitempty"`
	Hang       bool   `json:"hang,omitempty"`
	Drop       bool   `json:"drop,omitempty"`
	Lose       bool   `json:"lose,omitempty"`
	Times      int    `json:"times,omitempty"`

	Header      map[string]string `json:"header,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	Body        string            `json:"body,omitempty"`
	Echo        bool              `json:"echo,omitempty"`
}

// ParseFault reads a Fault in the control API's JSON form, e.g.
// {"endpoint":"heal","status":409,"times":2} or
// {"endpoint":"webhook","delay":"2s"}, and checks it.
func ParseFault(b []byte) (Fault, error) {
	var j faultJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a typo must not silently switch nothing
	if err := dec.Decode(&j); err != nil {
		return Fault{}, fmt.Errorf("parse fault: %w", err)
	}
	if dec.More() {
		return Fault{}, errors.New("parse fault: more than one JSON value")
	}
	f := Fault{Endpoint: j.Endpoint, Path: j.Path, Status: j.Status, RetryAfter: j.RetryAfter,
		Hang: j.Hang, Drop: j.Drop, Lose: j.Lose, Times: j.Times,
		Header: j.Header, ContentType: j.ContentType, Body: j.Body, Echo: j.Echo}
	if j.Delay != "" {
		d, err := time.ParseDuration(j.Delay)
		if err != nil {
			return Fault{}, fmt.Errorf("parse fault: delay: %w", err)
		}
		f.Delay = d
	}
	if err := f.Check(); err != nil {
		return Fault{}, err
	}
	return f, nil
}

// Check reports what makes f meaningless.
func (f Fault) Check() error {
	switch f.Endpoint {
	case EndpointToken, EndpointHeal, EndpointInstance, EndpointLCM, EndpointLCMList, EndpointWebhook:
	default:
		return fmt.Errorf("fault: unknown endpoint %q", f.Endpoint)
	}
	if f.Status != 0 && (f.Status < 200 || f.Status > 599) {
		return fmt.Errorf("fault: status %d is not an HTTP status to answer", f.Status)
	}
	if f.RetryAfter < 0 || f.RetryAfter > 86400 {
		return fmt.Errorf("fault: retryAfter %d is not 0..86400 s", f.RetryAfter)
	}
	if f.RetryAfter > 0 && f.Status == 0 {
		return errors.New("fault: retryAfter without a status")
	}
	if f.Delay < 0 || f.Delay > MaxFaultDelay {
		return fmt.Errorf("fault: delay %s is not 0..%s", f.Delay, MaxFaultDelay)
	}
	if f.Times < 0 {
		return fmt.Errorf("fault: times %d is negative", f.Times)
	}
	n := 0
	for _, b := range []bool{f.Status != 0, f.Hang, f.Drop, f.Lose} {
		if b {
			n++
		}
	}
	if n > 1 {
		return errors.New("fault: status, hang, drop and lose exclude each other")
	}
	if n == 0 && f.Delay == 0 {
		return errors.New("fault: it does nothing (no status, delay, hang, drop or lose)")
	}
	if f.Status == 0 && (len(f.Header) > 0 || f.ContentType != "" || f.Body != "" || f.Echo) {
		return errors.New("fault: header, contentType, body and echo go with a status")
	}
	if f.Echo && (f.Status < 400 || f.Body != "") {
		return errors.New("fault: echo answers a 4xx or 5xx with its own body: no body with it")
	}
	for k, v := range f.Header {
		if k == "" || strings.ContainsAny(k, " \t:\r\n\x00") || strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("fault: header %.40q: %.40q is not a valid header field", k, v)
		}
	}
	if strings.ContainsAny(f.ContentType, "\r\n") {
		return errors.New("fault: contentType holds a line break")
	}
	return nil
}

// AddFault adds a switch. Faults apply in the order added; a request takes
// the first that matches it.
func (s *Server) AddFault(f Fault) error {
	if err := f.Check(); err != nil {
		return err
	}
	f.used = 0
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
	return nil
}

// ClearFaults removes every switch: the VNFM answers as Tacker again.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the fault that applies to a request, counting it.
func (s *Server) takeFault(endpoint, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Endpoint != endpoint || (f.Path != "" && f.Path != path) {
			continue
		}
		f.used++
		if f.Times > 0 && f.used >= f.Times {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		c := *f
		return &c
	}
	return nil
}

// applyFault answers r as a switch says, if one applies. It returns true
// when the request is done with (answered, or released without an
// answer); false lets the endpoint serve it, after a delay perhaps. A hang
// or a drop ends by panicking with http.ErrAbortHandler, net/http's way to
// close the connection without an answer.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, rec *Record, body []byte) bool {
	f := s.takeFault(rec.Endpoint, r.URL.Path)
	if f == nil {
		return false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			rec.Verdict = Faulted + ": delay " + f.Delay.String() + ", the client gave up"
			s.record(*rec)
			return true
		case <-s.closing:
			rec.Verdict = Faulted + ": delay " + f.Delay.String() + ", released by Close"
			s.record(*rec)
			panic(http.ErrAbortHandler)
		}
	}
	switch {
	case f.Hang:
		rec.Verdict = Faulted + ": hang"
		s.record(*rec)
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		panic(http.ErrAbortHandler)
	case f.Drop:
		rec.Verdict = Faulted + ": drop"
		s.record(*rec)
		panic(http.ErrAbortHandler)
	case f.Lose:
		lw, ok := w.(*loseWriter)
		if !ok { // not through Handler: lose it all
			rec.Verdict = Faulted + ": drop (lose outside Handler)"
			s.record(*rec)
			panic(http.ErrAbortHandler)
		}
		lw.lose = true
		rec.Lost = true
		return false // served as usual; Handler closes the connection
	case f.Status != 0:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		for k, v := range f.Header {
			w.Header().Set(k, v)
		}
		rec.Status = f.Status
		rec.Verdict = Faulted + ": " + strconv.Itoa(f.Status)
		s.record(*rec)
		switch {
		case f.Echo:
			writeEcho(w, r, rec.Endpoint, f.Status, body)
		case f.Body != "" || f.ContentType != "":
			if f.ContentType != "" {
				w.Header().Set("Content-Type", f.ContentType)
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(f.Body)))
			w.WriteHeader(f.Status)
			io.WriteString(w, f.Body)
		default:
			writeFaultAnswer(w, *rec, f.Status)
		}
		return true
	}
	return false // a delay alone: serve it now
}

// writeEcho answers status with what the request carried, credentials
// included, in a body of the endpoint's kind.
func writeEcho(w http.ResponseWriter, r *http.Request, endpoint string, status int, body []byte) {
	said := "Authorization: " + r.Header.Get("Authorization")
	if id, secret, ok := r.BasicAuth(); ok {
		said += " (client " + id + ", secret " + secret
		if u, err := url.QueryUnescape(secret); err == nil {
			said += ", that is " + u
		}
		said += ")"
	}
	said += "; body: " + string(body)
	if endpoint == EndpointToken {
		writeJSON(w, status, "application/json", map[string]string{"error": "invalid_client", "error_description": "refused: " + said})
		return
	}
	writeProblem(w, status, "refused: "+said)
}

// loseWriter lets a Lose switch serve a request and keep its answer from
// the client: once lose is set, nothing reaches the connection, and
// Handler closes it when the endpoint is done.
type loseWriter struct {
	http.ResponseWriter
	lose bool
}

func (l *loseWriter) WriteHeader(status int) {
	if !l.lose {
		l.ResponseWriter.WriteHeader(status)
	}
}

func (l *loseWriter) Write(b []byte) (int, error) {
	if l.lose {
		return len(b), nil
	}
	return l.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (l *loseWriter) Unwrap() http.ResponseWriter { return l.ResponseWriter }

// writeFaultAnswer writes a body of the kind the endpoint answers.
func writeFaultAnswer(w http.ResponseWriter, rec Record, status int) {
	switch {
	case status < 300:
		w.WriteHeader(status)
	case rec.Endpoint == EndpointWebhook:
		http.Error(w, http.StatusText(status), status)
	case rec.Endpoint == EndpointToken:
		code := "server_error"
		switch status {
		case 401:
			code = "invalid_client"
		case 400:
			code = "invalid_request"
		case 503:
			code = "temporarily_unavailable"
		}
		writeJSON(w, status, "application/json", map[string]string{"error": code})
	case status == http.StatusUnauthorized:
		writeUnauthorized(w)
	case status == http.StatusConflict && rec.Endpoint == EndpointHeal:
		writeProblem(w, status, fmt.Sprintf("Other LCM operation of vnfInstance %s is in progress.", pathID(rec.Path)))
	default:
		writeProblem(w, status, "injected by the test VNFM: "+http.StatusText(status))
	}
}
