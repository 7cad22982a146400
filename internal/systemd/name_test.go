package systemd

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/godbus/dbus/v5"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name  string
		ok    bool
		trans bool // also valid for StartTransient
	}{
		{"vnfc.service", true, true},
		{"a.service", true, true},
		{"0.service", true, true},
		{"vnfc-fw_1:a\\x2d.b.service", true, true},
		{"getty@tty1.service", true, true},
		{"a@b@c.service", true, true},
		{"multi-user.target", true, false},
		{"-.mount", true, false},
		{"-.slice", true, false},
		{"init.scope", true, false},
		{"dbus.socket", true, false},
		{strings.Repeat("a", 247) + ".service", true, true}, // 255 bytes
		{"", false, false},
		{"vnfc", false, false},
		{".service", false, false},
		{"vnfc.", false, false},
		{"vnfc.servic", false, false},
		{"vnfc.SERVICE", false, false},
		{"getty@.service", false, false},
		{"@tty1.service", false, false},
		{"a b.service", false, false},
		{"a/b.service", false, false},
		{"../a.service", false, false},
		{"a\x00.service", false, false},
		{"é.service", false, false},
		{"a\n.service", false, false},
		{"--help.service", true, true},
		{strings.Repeat("a", 248) + ".service", false, false}, // 256 bytes
	}
	for _, tt := range tests {
		if err := CheckName(tt.name); (err == nil) != tt.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err := CheckTransientName(tt.name); (err == nil) != tt.trans {
			t.Errorf("CheckTransientName(%q) = %v, want ok=%v", tt.name, err, tt.trans)
		}
	}
}

func TestEscapeLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "_"},
		{"a", "a"},
		{"dbus.service", "dbus_2eservice"},
		{"-.mount", "_2d_2emount"},
		{"0a.service", "_30a_2eservice"},
		{"a0.service", "a0_2eservice"},
		{"getty@tty1.service", "getty_40tty1_2eservice"},
		{"a_b.service", "a_5fb_2eservice"},
		{"x\\x2d.service", "x_5cx2d_2eservice"},
		{"\xff\x00", "_ff_00"},
	}
	for _, tt := range tests {
		if got := escapeLabel(tt.in); got != tt.want {
			t.Errorf("escapeLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := unitPath("vnfc.service"); got != "/org/freedesktop/systemd1/unit/vnfc_2eservice" {
		t.Errorf("unitPath(vnfc.service) = %q", got)
	}
}

// unescapeLabel reverses escapeLabel (systemd's bus_label_unescape): the
// fuzz test's oracle that escaping loses nothing.
func unescapeLabel(s string) (string, bool) {
	if s == "_" {
		return "", true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '_' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// FuzzUnitPath checks, for any string, that checkName does not panic, and
// that escaping gives one valid object path element of letters, digits and
// _ only, starting with no digit, that unescapes to the input: two units
// never share an object path.
func FuzzUnitPath(f *testing.F) {
	for _, s := range []string{
		"", "_", "a", "vnfc.service", "-.mount", "0.service", "getty@tty1.service",
		"a\\x2d.service", "a b", "\x00", "\xff", "é.service", "/org/x", "..",
		strings.Repeat("a", 300) + ".service",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nameErr := CheckName(s)
		e := escapeLabel(s)
		for i := 0; i < len(e); i++ {
			c := e[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
				t.Fatalf("escapeLabel(%q) = %q has %q", s, e, c)
			}
		}
		if e == "" || '0' <= e[0] && e[0] <= '9' {
			t.Fatalf("escapeLabel(%q) = %q: empty or starts with a digit", s, e)
		}
		if back, ok := unescapeLabel(e); !ok || back != s {
			t.Fatalf("unescape(escapeLabel(%q)) = %q, %v", s, back, ok)
		}
		if p := unitPath(s); !p.IsValid() {
			t.Fatalf("unitPath(%q) = %q is not a valid object path", s, p)
		}
		if nameErr == nil {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "/ \x00") || len(s) > maxUnitName {
				t.Fatalf("checkName accepted %q", s)
			}
			if err := CheckTransientName(s); err == nil && !strings.HasSuffix(s, ".service") {
				t.Fatalf("checkTransientName accepted %q", s)
			}
		}
	})
}

// TestInvalidNamesNeverReachSystemd calls every method with a bad name on a
// Conn with no connection: each must refuse before using it.
func TestInvalidNamesNeverReachSystemd(t *testing.T) {
	c := &Conn{}
	ctx := context.Background()
	for _, name := range []string{"", "a/b.service", "getty@.service", "x.unit"} {
		if err := c.Start(ctx, name); err == nil {
			t.Errorf("Start(%q) succeeded", name)
		}
		if err := c.Stop(ctx, name); err == nil {
			t.Errorf("Stop(%q) succeeded", name)
		}
		if _, err := c.State(ctx, name); err == nil {
			t.Errorf("State(%q) succeeded", name)
		}
		if _, err := c.Watch(ctx, name); err == nil {
			t.Errorf("Watch(%q) succeeded", name)
		}
		if err := c.StartTransient(ctx, name, Transient{Argv: []string{"/bin/true"}}); err == nil {
			t.Errorf("StartTransient(%q) succeeded", name)
		}
	}
	if err := c.StartTransient(ctx, "a.target", Transient{Argv: []string{"/bin/true"}}); err == nil {
		t.Error("StartTransient of a target succeeded")
	}
	if err := c.StartTransient(ctx, "a.service", Transient{}); err == nil {
		t.Error("StartTransient without a command succeeded")
	}
}

// TestTransientProperties checks the D-Bus names and types of the
// settings: systemd rejects a property of the wrong type.
func TestTransientProperties(t *testing.T) {
	tr := Transient{
		Description: "d", Argv: []string{"/bin/x", "a"}, User: "u", Group: "g",
		WorkingDirectory: "/w", Environment: []string{"A=1"}, KillSignal: 2,
		TimeoutStop: 1500000000, OutputFile: "/o", Nice: -7,
	}
	want := map[string]string{
		"Type": "s", "ExecStart": "a(sasb)", "Description": "s", "User": "s", "Group": "s",
		"WorkingDirectory": "s", "Environment": "as", "KillSignal": "i", "TimeoutStopUSec": "t",
		"StandardOutputFileToAppend": "s", "StandardErrorFileToAppend": "s", "Nice": "i",
	}
	got := map[string]string{}
	for _, p := range tr.properties() {
		got[p.Name] = p.Value.Signature().String()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("property %s has signature %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("properties %v, want %v", got, want)
	}
	for _, p := range tr.properties() {
		if p.Name == "TimeoutStopUSec" && p.Value.Value() != uint64(1500000) {
			t.Errorf("TimeoutStopUSec = %v, want 1500000", p.Value.Value())
		}
		if p.Name == "Nice" && p.Value.Value() != int32(-7) {
			t.Errorf("Nice = %v, want -7", p.Value.Value())
		}
	}
	// The minimal unit: Type and ExecStart only.
	if n := len((&Transient{Argv: []string{"/bin/x"}}).properties()); n != 2 {
		t.Errorf("a Transient with Argv only has %d properties, want 2", n)
	}
	var sig dbus.Signature = dbus.SignatureOf([]auxUnit{})
	if sig.String() != "a(sa(sv))" {
		t.Errorf("aux units signature %q, want a(sa(sv))", sig)
	}
}
