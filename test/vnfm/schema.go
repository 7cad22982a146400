package vnfm

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// healSchema is Tacker's HealVnfRequest_V200 (tacker/sol_refactored/api/
// schemas/vnflcm_v2.py) with its references expanded (research §1.3), with
// one change forced by Go's regexp: RE2 caps a repeat count at 1000, so
// Tacker's key pattern ^[a-zA-Z0-9-_:. /]{1,1024}$ is written as {1,1000}
// then {0,24} of the same class, which accepts exactly the same keys. Its
// "\n?" keeps Python's "$", which also matches before a final newline
// (Tacker validates with Python's re).
const healSchema = `{
 "type": "object",
 "additionalProperties": true,
 "properties": {
  "cause": {"type": "string", "maxLength": 255},
  "additionalParams": {
   "type": "object",
   "additionalProperties": false,
   "patternProperties": {
    "^[a-zA-Z0-9\\-_:. /]{1,1000}[a-zA-Z0-9\\-_:. /]{0,24}\n?$": {
     "anyOf": [
      {"type": "array"},
      {"type": "string", "maxLength": 1024},
      {"type": "object"},
      {"type": "null"},
      {"type": "boolean"},
      {"type": "number"}
     ]
    }
   }
  },
  "vnfcInstanceId": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255}},
  "healScript": {"type": "string", "maxLength": 255}
 }
}`

var healValidator = mustCompile("HealVnfRequest_V200.json", healSchema)

func mustCompile(name, src string) *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src))
	if err != nil {
		panic(fmt.Sprintf("schema %s: %v", name, err))
	}
	c := jsonschema.NewCompiler()
	// Draft 4, as Tacker's validators.
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource(name, doc); err != nil {
		panic(fmt.Sprintf("schema %s: %v", name, err))
	}
	return c.MustCompile(name)
}

// ValidateHealRequest checks body against HealVnfRequest_V200 as Tacker's
// schema validator does; the error says what failed. It does not do the
// controller's checks that need the instance (see the Heal endpoint).
func ValidateHealRequest(body []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("malformed request body: %w", err)
	}
	if err := healValidator.Validate(v); err != nil {
		return fmt.Errorf("HealVnfRequest: %w", err)
	}
	return nil
}
