package vnfm

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// healVnfRequestV200 is Tacker's HealVnfRequest_V200 with its references
// expanded (research vnfm.md §1.3; Tacker's
// sol_refactored/api/schemas/vnflcm_v2.py, common_types.Identifier and
// parameter_types.keyvalue_pairs).
const healVnfRequestV200 = `{"type":"object","additionalProperties":true,
 "properties":{
  "cause":{"type":"string","maxLength":255},
  "additionalParams":{"type":"object","additionalProperties":false,
     "patternProperties":{"^[a-zA-Z0-9-_:. /]{1,1024}$":{"anyOf":[{"type":"array"},
        {"type":"string","maxLength":1024},{"type":"object"},{"type":"null"},
        {"type":"boolean"},{"type":"number"}]}}},
  "vnfcInstanceId":{"type":"array","items":{"type":"string","minLength":1,"maxLength":255}},
  "healScript":{"type":"string","maxLength":255}}}`

// lenRegexp is a pattern whose {m,n} exceeds Go's repeat limit of 1000:
// the pattern with + instead, and the length checked apart.
type lenRegexp struct {
	src      string
	re       *regexp.Regexp
	min, max int
}

func (r lenRegexp) MatchString(s string) bool {
	n := utf8.RuneCountInString(s)
	return n >= r.min && n <= r.max && r.re.MatchString(s)
}
func (r lenRegexp) String() string { return r.src }

// compileSchema compiles the schema with a regexp engine that accepts
// keyvalue_pairs' {1,1024} (Go's regexp stops at 1000).
func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.UseRegexpEngine(func(s string) (jsonschema.Regexp, error) {
		if base, ok := strings.CutSuffix(s, "{1,1024}$"); ok {
			re, err := regexp.Compile(base + "+$")
			if err != nil {
				return nil, err
			}
			return lenRegexp{src: s, re: re, min: 1, max: 1024}, nil
		}
		return regexp.Compile(s)
	})
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(healVnfRequestV200))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("heal.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("heal.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, body []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the body is not JSON: %v", err)
	}
	return sch.Validate(v)
}

// TestSchema: every Heal the sink sends passes HealVnfRequest_V200, for
// causes and parameters at the schema's edges; and the schema as compiled
// here refuses what Tacker refuses, so the test can fail.
func TestSchema(t *testing.T) {
	sch := compileSchema(t)
	p := newPKI(t, "a")
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
			f := newFakeVNFM(t, p, tls.NoClientCert)
			c := testConfig(t, p, f)
			c.Cause, c.AdditionalParams = tt.cause, tt.params
			s := newSink(t, c)
			e := event(tt.eventID, tt.subject, "VDU1-"+strings.Repeat("x", 250))
			if err := deliver(t, s, e); err != nil {
				t.Fatal(err)
			}
			body := f.heals[0].body
			if err := validate(t, sch, body); err != nil {
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
		if validate(t, sch, []byte(bad)) == nil {
			t.Errorf("the schema accepts %.80s", bad)
		}
	}
}
