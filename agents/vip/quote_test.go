package vip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuoted(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"short", "eth0", `"eth0"`},
		{"empty", "", `""`},
		{"newline escaped", "a\nb", `"a\nb"`},
		{"long cut with length", strings.Repeat("x", 5000), `"` + strings.Repeat("x", 30) + `"... (5000 bytes)`},
		{"escapes count", strings.Repeat("\x01", 100), `"` + strings.Repeat(`\x01`, 7) + `"... (100 bytes)`},
		{"multi-byte not split", strings.Repeat("é", 40), `"` + strings.Repeat("é", 15) + `"... (80 bytes)`},
		{"invalid UTF-8", "\xff\xfe", `"\xff\xfe"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := quoted(tt.in)
			if got != tt.want {
				t.Errorf("quoted(%.20q) = %s, want %s", tt.in, got, tt.want)
			}
			if !utf8.ValidString(got) || strings.ContainsAny(got, "\n\r\x00") {
				t.Errorf("quoted(%.20q) = %q is not one clean line", tt.in, got)
			}
		})
	}
}
