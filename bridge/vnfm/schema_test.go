package vnfm

import (
	"crypto/tls"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	tvnfm "github.com/vnfha/vnfha/test/vnfm"
)

// TestSchema: every Heal the sink sends passes HealVnfRequest_V200 (the
// test VNFM's check, Tacker's schema), for causes and parameters at the
// schema's edges; and that check refuses what Tacker refuses, so the test
// can fail.
func TestSchema(t *testing.T) {
	longVNFC := "VDU1-" + strings.Repeat("x", 250)
	p := testPKI(t)
	long := strings.Repeat("é", 400)
	tests := []struct {
		name    string
		cause   string
		params  map[string]any
		eventID string
		subject string
	}{
		{"default", "", nil, "e0", "web:node0"},
		{"long multibyte cause", long, map[string]any{"all": true}, "e1", "web:node0"},
		{"long subject", "", nil, "e2", strings.Repeat("ü", 300)},
		{"long id", "x", nil, strings.Repeat("i", 500), "web:node0"},
		{"emoji at the cut", strings.Repeat("😀", 300), nil, "e3", "s"},
		{"params at the edges", "c", map[string]any{
			strings.Repeat("k", 1024): strings.Repeat("v", 1024), "a-b_c:d. e/f": nil,
			"list": []any{1, "x"}, "obj": map[string]any{"k": "v"}, "n": 1.5, "big": 12345678901234567}, "e4", "s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startVNFM(t, p, tls.NoClientCert, func(o *tvnfm.Options) { o.Instances[testInstance] = tvnfm.Instance{VNFCs: []string{longVNFC}} })
			c := testConfig(t, p, f)
			c.Cause, c.AdditionalParams = tt.cause, tt.params
			s := newSink(t, c)
			e := event(tt.eventID, tt.subject, longVNFC)
			if err := deliver(t, s, e); err != nil {
				t.Fatal(err)
			}
			heals := f.Heals()
			if len(heals) != 1 {
				t.Fatalf("%d Heals accepted; want 1", len(heals))
			}
			body := []byte(heals[0].Body)
			if err := tvnfm.ValidateHealRequest(body); err != nil {
				t.Fatalf("the Heal %s fails HealVnfRequest_V200: %v", body, err)
			}
			var req healRequest
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatal(err)
			}
			if n := utf8.RuneCountInString(req.Cause); n > 255 || !utf8.ValidString(req.Cause) || strings.ContainsRune(req.Cause, utf8.RuneError) {
				t.Errorf("cause of %d characters, valid %v", n, utf8.ValidString(req.Cause))
			}
			if !strings.Contains(req.Cause, markerFor(e.ID)) {
				t.Errorf("cause %q lacks the marker %q", req.Cause, markerFor(e.ID))
			}
			if len(req.VNFCInstanceID) != 1 || req.VNFCInstanceID[0] != e.Data.VNFCInstanceID {
				t.Errorf("vnfcInstanceId %v", req.VNFCInstanceID)
			}
			if tt.params != nil && strings.Contains(string(body), "12345678901234567") != (tt.params["big"] != nil) {
				t.Errorf("a large integer lost its digits: %s", body)
			}
		})
	}
	// The schema refuses what Tacker refuses.
	for _, bad := range []string{
		`{"cause":"` + strings.Repeat("x", 256) + `"}`,
		`{"vnfcInstanceId":[""]}`,
		`{"additionalParams":{"a,b":1}}`,
		`{"additionalParams":{"` + strings.Repeat("k", 1025) + `":1}}`,
		`{"additionalParams":{"k":"` + strings.Repeat("v", 1025) + `"}}`,
	} {
		if tvnfm.ValidateHealRequest([]byte(bad)) == nil {
			t.Errorf("the schema accepts %.80s", bad)
		}
	}
}
