package vip

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vnfha/vnfha/ocf"
)

// FuzzParseNetns: network_namespace is refused or taken as a path under
// /run/netns or as given, never anything else: no name reaches outside
// /run/netns, and a refusal's reason is one bounded line.
func FuzzParseNetns(f *testing.F) {
	for _, s := range []string{"", "blue", "../../etc", "/etc", "/proc/self/ns/net", ".", "..", "a/b", "x\n", strings.Repeat("a", 300), "/" + strings.Repeat("a/", 3000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r, err := parseNetns(v)
		if err != nil {
			reason := ocf.ExitReason(err)
			if len(reason) > ocf.MaxReasonLen || strings.ContainsAny(reason, "\n\r") || !utf8.ValidString(reason) {
				t.Fatalf("parseNetns(%q): reason %q", v, reason)
			}
			return
		}
		switch {
		case v == "":
			if r.path != "" {
				t.Fatalf("empty value gave path %q", r.path)
			}
		case r.named:
			if strings.ContainsRune(v, '/') || v == "." || v == ".." || r.path != netnsDir+"/"+v {
				t.Fatalf("name %q taken as %q", v, r.path)
			}
		default:
			if !strings.HasPrefix(v, "/") || r.path != v {
				t.Fatalf("value %q taken as path %q", v, r.path)
			}
		}
	})
}

// FuzzParseRecord: whatever a record file holds, parseRecord returns a
// whole record or an error, and never an invalid address.
func FuzzParseRecord(f *testing.F) {
	good, _ := json.Marshal(record{IP: netip.MustParseAddr("198.18.0.100"), Bits: 24, Link: 2, LinkNm: "eth0"})
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"ip":"198.18.0.1","bits":24,"link":2,"link_name":"x","netns_path":"/run/netns/a"}`))
	f.Add([]byte(`{"ip":"198.18.0.1","bits":24,"link":2,"link_name":"x","netns_path":"a"}`))
	f.Add([]byte(`{"ip":"::ffff:198.18.0.1","link":1,"link_name":"x"}`))
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRecord(b)
		if err != nil {
			if strings.Contains(err.Error(), string(b)) && len(b) > 8 {
				t.Fatalf("error %q quotes the file", err)
			}
			return
		}
		if !r.IP.IsValid() || r.IP.Is4In6() || r.Link <= 0 || r.LinkNm == "" || (r.NetnsPath != "" && !strings.HasPrefix(r.NetnsPath, "/")) {
			t.Fatalf("parseRecord(%q) = %+v", b, r)
		}
	})
}
