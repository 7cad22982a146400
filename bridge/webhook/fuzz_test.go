package webhook

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/delivery"
)

// FuzzParseSecrets: no input panics, a key is always within the spec's
// bounds, and an error never quotes the input.
func FuzzParseSecrets(f *testing.F) {
	f.Add([]byte(secretA))
	f.Add([]byte(secretA + "\n" + secretB + "\n"))
	f.Add([]byte("whsec_AAAA"))
	f.Add([]byte("whsec_" + strings.Repeat("A", 86)))
	f.Add([]byte("whsec_!!notbase64!!"))
	f.Add([]byte("password123456789012345678901234"))
	f.Fuzz(func(t *testing.T, content []byte) {
		keys, err := parseSecrets(content)
		if err != nil {
			for _, field := range bytes.Fields(content) {
				// Short fields can be words of the message itself.
				if len(field) >= 12 && strings.Contains(err.Error(), string(field)) {
					t.Fatalf("error %q quotes the input", err)
				}
			}
			return
		}
		if len(keys) == 0 || len(keys) > maxSecrets {
			t.Fatalf("%d keys", len(keys))
		}
		for _, k := range keys {
			if len(k) < minKeyLen || len(k) > maxKeyLen {
				t.Fatalf("key of %d bytes", len(k))
			}
		}
	})
}

// FuzzParseFilter: a filter that parses matches each exact type it names,
// and "*" or an empty list matches everything.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "*", "vnfc.*", "vnfc.failed,lb.*", "lb.backend_up", "vnfc*", "io.vnfha.vnfc.failed", "a..b", ".*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var types []string
		if s != "" {
			types = strings.Split(s, ",")
		}
		flt, err := parseFilter(types)
		if err != nil {
			return
		}
		for _, typ := range types {
			if !strings.HasSuffix(typ, "*") && !flt.match(typ) {
				t.Fatalf("filter %q does not match %q", s, typ)
			}
		}
		if len(types) == 0 && !flt.match("anything") {
			t.Fatal("empty filter does not match everything")
		}
	})
}

// FuzzEncodeEvent: whatever the cluster puts in an event, the body is
// valid JSON that carries the id and the type, or the event is refused.
func FuzzEncodeEvent(f *testing.F) {
	f.Add("f3a9c2d1e0b4", "vnfc.failed", "/vnfha/clusters/prod1", "web:node2", "monitor", int64(0))
	f.Add("id", "lb.backend_down", "", "\xff\x00", "<script>", int64(-1))
	f.Add("", "", "%zz", "", "", int64(1<<62))
	f.Fuzz(func(t *testing.T, id, typ, source, subject, reason string, unix int64) {
		e := delivery.Event{ID: id, Type: typ, Source: source, Subject: subject,
			Time: time.Unix(unix%(1<<40), 0), Data: delivery.Data{Cluster: source, Reason: reason}}
		body, err := encodeEvent(e, "/vnfha/clusters/config", DefaultTypePrefix)
		if err != nil {
			return
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("body %q is not JSON: %v", body, err)
		}
		if got["id"] != id || got["type"] != DefaultTypePrefix+typ || got["specversion"] != "1.0" {
			t.Fatalf("body %s lost id or type", body)
		}
		if got["source"] == "" {
			t.Fatalf("body %s has an empty source", body)
		}
	})
}
