package vnfm

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// CloudEventsJSON is the media type of a structured-mode CloudEvent in
// JSON (CloudEvents JSON format §3).
const CloudEventsJSON = "application/cloudevents+json"

// secretPrefix marks a Standard Webhooks secret written as base64.
const secretPrefix = "whsec_"

// WebhookKey turns a secret as Options.WebhookSecret takes it into the
// HMAC key: "whsec_<base64>" is decoded as Standard Webhooks writes it,
// anything else is the key's bytes. Surrounding whitespace (a file's final
// newline) is not part of it.
func WebhookKey(secret []byte) ([]byte, error) {
	secret = bytes.TrimSpace(secret)
	if rest, ok := bytes.CutPrefix(secret, []byte(secretPrefix)); ok {
		key, err := base64.StdEncoding.DecodeString(string(rest))
		if err != nil {
			// Not the error's text: it quotes the offending byte.
			return nil, errors.New("webhook secret: whsec_ is not followed by base64")
		}
		secret = key
	}
	if len(secret) == 0 {
		return nil, errors.New("webhook secret is empty")
	}
	return secret, nil
}

// SignWebhook returns the webhook-signature value for a delivery, as
// Standard Webhooks signs: "v1," and the base64 HMAC-SHA256 of
// "id.timestamp.body". The tests use it to send good and bad deliveries.
func SignWebhook(secret []byte, id string, ts time.Time, body []byte) (string, error) {
	key, err := WebhookKey(secret)
	if err != nil {
		return "", err
	}
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return "", fmt.Errorf("webhook signer: %w", err)
	}
	return wh.Sign(id, ts, body)
}

// verifyWebhook checks the Standard Webhooks headers of a delivery: the
// timestamp within WebhookTolerance of the Server's clock (the reference
// library's own check reads time.Now, which a test cannot move), then the
// signature with the reference library.
func (s *Server) verifyWebhook(h http.Header, body []byte) error {
	key, err := WebhookKey(s.opt.WebhookSecret)
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" || h.Get("webhook-signature") == "" {
		return errors.New("webhook-id, webhook-timestamp or webhook-signature missing")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not an integer")
	}
	d := s.now().Sub(time.Unix(sec, 0))
	if sec > 1<<40 || sec < -(1<<40) || d > WebhookTolerance || d < -WebhookTolerance {
		return fmt.Errorf("webhook-timestamp %s is not within %s of now", ts, WebhookTolerance)
	}
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return fmt.Errorf("webhook verifier: %w", err)
	}
	if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
		return errors.New("no webhook-signature matches")
	}
	return nil
}

// ParseCloudEvent reads a structured-mode CloudEvent in JSON and checks it
// as CloudEvents 1.0 requires: specversion 1.0, id, source and type
// present (and the rest as the SDK validates it).
func ParseCloudEvent(body []byte) (event.Event, error) {
	var e event.Event
	if err := e.UnmarshalJSON(body); err != nil {
		return event.Event{}, fmt.Errorf("CloudEvent: %w", err)
	}
	if v := e.SpecVersion(); v != event.CloudEventsVersionV1 {
		return event.Event{}, fmt.Errorf("CloudEvent: specversion %q is not 1.0", v)
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("CloudEvent: %w", err)
	}
	return e, nil
}

// serveWebhook is a webhook receiver: a POST of a structured CloudEvent,
// signed as Standard Webhooks sign. A bad signature is 401, recorded as
// rejected; a good one with a bad event is 400; a good delivery is 204.
// The webhook-id must be the CloudEvent's id (issue 12: the event's stable
// id is both), so that a receiver can drop repeats by either.
func (s *Server) serveWebhook(w http.ResponseWriter, r *http.Request) {
	rec, body, ok := s.begin(w, r, EndpointWebhook)
	if !ok {
		return
	}
	reject := func(status int, why string) {
		rec.Status = status
		rec.Verdict = fmt.Sprintf("%s: %d %s", Rejected, status, why)
		s.record(rec)
		http.Error(w, why, status)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reject(http.StatusMethodNotAllowed, "a webhook is a POST")
		return
	}
	if mt := mediaType(r.Header); mt != CloudEventsJSON {
		reject(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not %s", mt, CloudEventsJSON))
		return
	}
	if err := s.verifyWebhook(r.Header, body); err != nil {
		reject(http.StatusUnauthorized, err.Error())
		return
	}
	e, err := ParseCloudEvent(body)
	if err != nil {
		reject(http.StatusBadRequest, err.Error())
		return
	}
	if e.ID() != rec.EventID {
		reject(http.StatusBadRequest, fmt.Sprintf("webhook-id %q is not the CloudEvent's id %q", rec.EventID, e.ID()))
		return
	}
	rec.Status, rec.Verdict = http.StatusNoContent, Accepted
	s.record(rec)
	w.WriteHeader(http.StatusNoContent)
}
