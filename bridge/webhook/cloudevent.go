package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vnfha/vnfha/bridge/delivery"
)

// ContentType is the body's media type: CloudEvents' JSON event format in
// the HTTP binding's structured mode.
const ContentType = "application/cloudevents+json; charset=utf-8"

// cloudEvent is a CloudEvents 1.0 event in its JSON format (json-format.md
// §3): the context attributes as members, and data as a JSON value since
// datacontenttype is application/json. Written with encoding/json rather
// than with the CloudEvents Go SDK: the SDK serialises through
// json-iterator and reflect2 (+0.9 MB to the binary, and unsafe access to
// the runtime's internals) for these nine members; the tests check this
// body against the SDK's own parser instead.
type cloudEvent struct {
	SpecVersion     string        `json:"specversion"`
	ID              string        `json:"id"`
	Source          string        `json:"source"`
	Type            string        `json:"type"`
	Subject         string        `json:"subject,omitempty"`
	Time            string        `json:"time,omitempty"`
	DataContentType string        `json:"datacontenttype"`
	Data            delivery.Data `json:"data"`
}

// encodeEvent makes the body of e. Its errors mean that e can never be a
// valid CloudEvent (the caller makes them final); they quote no field's
// value, which comes from the cluster and may be anything.
func encodeEvent(e delivery.Event, source, typePrefix string) ([]byte, error) {
	if e.Source != "" {
		source = e.Source
	}
	if e.ID == "" || !utf8.ValidString(e.ID) {
		return nil, errors.New("event id is empty or not UTF-8")
	}
	if e.Type == "" || !utf8.ValidString(e.Type) {
		return nil, errors.New("event type is empty or not UTF-8")
	}
	if err := checkSource(source); err != nil {
		return nil, err
	}
	ce := cloudEvent{
		SpecVersion: "1.0",
		ID:          e.ID,
		Source:      source,
		Type:        typePrefix + e.Type,
		// encoding/json would replace invalid UTF-8 anyway; doing it
		// here keeps the subject the receiver sees equal to what the
		// status shows.
		Subject:         strings.ToValidUTF8(e.Subject, "\uFFFD"),
		DataContentType: "application/json",
		Data:            e.Data,
	}
	if t := e.Time.UTC(); !e.Time.IsZero() && t.Year() >= 1 && t.Year() <= 9999 {
		// RFC 3339 in UTC, to the precision the cluster recorded. A
		// year RFC 3339 cannot write (a clock gone wild) leaves the
		// optional attribute out rather than the event undelivered.
		ce.Time = t.Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(ce)
	if err != nil {
		return nil, fmt.Errorf("encode the CloudEvent: %w", err)
	}
	return b, nil
}

// checkSource enforces CloudEvents' source: a non-empty URI reference.
func checkSource(s string) error {
	if s == "" {
		return errors.New("no CloudEvent source (neither the event nor the config has one)")
	}
	if _, err := url.Parse(s); err != nil || !utf8.ValidString(s) {
		return errors.New("the CloudEvent source is not a URI reference")
	}
	return nil
}
