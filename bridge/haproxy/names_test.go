package haproxy

import (
	"net/netip"
	"strings"
	"testing"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestServerName(t *testing.T) {
	for _, tc := range []struct {
		parts []string
		want  string // exact, or a prefix when hashed
		hash  bool
	}{
		{[]string{"vnfha", "web-clone", "node1"}, "vnfha:web-clone:node1", false},
		{[]string{"web_clone", "node-1.example.com"}, "web_clone:node-1.example.com", false},
		{[]string{"web:0", "node1"}, "web_0:node1-", true},
		{[]string{"web 0", "node1"}, "web_0:node1-", true},
		{[]string{"wéb", "n"}, "w__b:n-", true},
		{[]string{"", "n"}, "_:n-", true},
		{nil, "-", true},
		{[]string{strings.Repeat("r", 200), "n"}, strings.Repeat("r", 85) + "-", true},
	} {
		got := ServerName(tc.parts...)
		if tc.hash && (!strings.HasPrefix(got, tc.want) || len(got) != len(tc.want)+10) {
			t.Errorf("%q: %q, want %q + a 10-digit hash", tc.parts, got, tc.want)
		}
		if !tc.hash && got != tc.want {
			t.Errorf("%q: %q, want %q", tc.parts, got, tc.want)
		}
		if err := checkName("server", got); err != nil {
			t.Errorf("%q: %v", tc.parts, err)
		}
		if again := ServerName(tc.parts...); again != got {
			t.Errorf("%q: not stable: %q then %q", tc.parts, got, again)
		}
	}
	// Sanitizing never merges two inputs.
	pairs := [][2][]string{
		{{"web:0", "n"}, {"web_0", "n"}},
		{{"web 0", "n"}, {"web_0", "n"}},
		{{"a:b", "c"}, {"a", "b:c"}},
		{{"ab", "c"}, {"a", "bc"}},
	}
	for _, p := range pairs {
		if a, b := ServerName(p[0]...), ServerName(p[1]...); a == b {
			t.Errorf("%q and %q both give %q", p[0], p[1], a)
		}
	}
}

func FuzzServerName(f *testing.F) {
	f.Add("web-clone", "node1")
	f.Add("web:0", "n\x00é")
	f.Fuzz(func(t *testing.T, a, b string) {
		n := ServerName(a, b)
		if err := checkName("server", n); err != nil {
			t.Fatal(err)
		}
		if len(n) > maxNameLen {
			t.Fatalf("%d bytes", len(n))
		}
		if n != ServerName(a, b) {
			t.Fatal("not stable")
		}
		// A clean join is returned as is; anything else carries the hash,
		// so it cannot equal a different clean join.
		if n == a+":"+b && (strings.Contains(a, ":") || strings.Contains(b, ":")) {
			t.Fatalf("ambiguous %q", n)
		}
	})
}
