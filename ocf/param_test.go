package ocf

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseValue(t *testing.T) {
	tests := []struct {
		typ     ParamType
		in      string
		want    any
		wantErr bool
	}{
		{String, "", "", false},
		{String, " spaced ", " spaced ", false},
		{Integer, "42", int64(42), false},
		{Integer, "-7", int64(-7), false},
		{Integer, " 8 ", int64(8), false},
		{Integer, "4.2", nil, true},
		{Integer, "", nil, true},
		{Integer, "99999999999999999999", nil, true},
		{Boolean, "true", true, false},
		{Boolean, "YES", true, false},
		{Boolean, "on", true, false},
		{Boolean, "1", true, false},
		{Boolean, "false", false, false},
		{Boolean, "no", false, false},
		{Boolean, "0", false, false},
		{Boolean, "maybe", nil, true},
		{Boolean, "", nil, true},
		{Time, "10", 10 * time.Second, false},
		{Time, "10s", 10 * time.Second, false},
		{Time, "500ms", 500 * time.Millisecond, false},
		{Time, "2min", 2 * time.Minute, false},
		{Time, "1 h", time.Hour, false},
		{Time, "15us", 15 * time.Microsecond, false},
		{Time, "-1s", nil, true},
		{Time, "s", nil, true},
		{Time, "10 fortnights", nil, true},
		{Time, "PT10S", nil, true},
		{Time, "9999999999999h", nil, true},
		{ParamType("select"), "a", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseValue(tt.typ, tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseValue(%s, %q) error = %v, want error %v", tt.typ, tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("ParseValue(%s, %q) = %#v, want %#v", tt.typ, tt.in, got, tt.want)
		}
	}
}

func TestParseParams(t *testing.T) {
	decl := testAgentDecl(false).Params
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // substrings of the joined error
		check   func(t *testing.T, p Params)
	}{
		{
			name: "defaults",
			env:  map[string]string{"OCF_RESKEY_name": "n1"},
			check: func(t *testing.T, p Params) {
				if p.String("name") != "n1" || p.Int("count") != 3 || !p.Bool("enabled") || p.Duration("delay") != 5*time.Second || p.String("path") != "" {
					t.Errorf("unexpected values %+v", p.values)
				}
				if !p.Set("name") || p.Set("count") {
					t.Errorf("Set: name %v count %v", p.Set("name"), p.Set("count"))
				}
			},
		},
		{
			name: "all given",
			env: map[string]string{"OCF_RESKEY_name": "n1", "OCF_RESKEY_count": "9", "OCF_RESKEY_enabled": "no",
				"OCF_RESKEY_delay": "250ms", "OCF_RESKEY_path": "/x"},
			check: func(t *testing.T, p Params) {
				if p.Int("count") != 9 || p.Bool("enabled") || p.Duration("delay") != 250*time.Millisecond || p.String("path") != "/x" {
					t.Errorf("unexpected values %+v", p.values)
				}
			},
		},
		{
			name:    "required missing",
			env:     map[string]string{},
			wantErr: []string{"required parameter name is not set"},
		},
		{
			name:    "required empty",
			env:     map[string]string{"OCF_RESKEY_name": ""},
			wantErr: []string{"required parameter name is not set"},
		},
		{
			name:    "bad values fall back to defaults",
			env:     map[string]string{"OCF_RESKEY_name": "n", "OCF_RESKEY_count": "many", "OCF_RESKEY_enabled": "perhaps"},
			wantErr: []string{"read OCF_RESKEY_count", "read OCF_RESKEY_enabled"},
			check: func(t *testing.T, p Params) {
				if p.Int("count") != 3 || !p.Bool("enabled") {
					t.Errorf("bad values did not fall back to defaults: %+v", p.values)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseParams(decl, MapLookup(tt.env))
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not mention %q", err, w)
				}
			}
			if err != nil && strings.Contains(err.Error(), "read OCF_RESKEY") && !errors.Is(err, ErrParamSyntax) {
				t.Errorf("error %v does not wrap ErrParamSyntax", err)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func TestParamsWrongTypePanics(t *testing.T) {
	p, _ := parseParams(testAgentDecl(false).Params, MapLookup(nil))
	for name, read := range map[string]func(){
		"undeclared":     func() { p.String("nope") },
		"int as string":  func() { p.String("count") },
		"string as bool": func() { p.Bool("name") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			read()
		}()
	}
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"", "0", "10s", "500ms", "-1", "yes", "99999999999999999999h", "1 min", "\x00"} {
		for _, typ := range []string{"string", "integer", "boolean", "time", "select"} {
			f.Add(typ, s)
		}
	}
	f.Fuzz(func(t *testing.T, typ, s string) {
		v, err := ParseValue(ParamType(typ), s)
		if err != nil {
			if v != nil {
				t.Errorf("ParseValue(%q, %q) returned %v with error %v", typ, s, v, err)
			}
			return
		}
		switch ParamType(typ) {
		case String:
			if v.(string) != s {
				t.Errorf("string changed: %q -> %q", s, v)
			}
		case Time:
			if v.(time.Duration) < 0 {
				t.Errorf("ParseValue(time, %q) = %v, negative", s, v)
			}
		case Integer, Boolean:
		default:
			t.Errorf("unknown type %q accepted", typ)
		}
	})
}

func FuzzParseInterval(f *testing.F) {
	for _, s := range []string{"0", "10", "10s", "20 min", "1h", "5ms", "abc", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseInterval(s)
		if err == nil && d < 0 {
			t.Errorf("ParseInterval(%q) = %v, negative", s, d)
		}
		if err != nil && !errors.Is(err, ErrParamSyntax) {
			t.Errorf("ParseInterval(%q) error %v does not wrap ErrParamSyntax", s, err)
		}
	})
}

// TestCheckName is principle 6: a name joined onto a directory stays in it.
func TestCheckName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{"vip", ""},
		{"vnfc:1", ""},
		{"web-1_a.b", ""},
		{"..a", ""},
		{strings.Repeat("n", MaxNameLen), ""},
		{"", "is empty"},
		{".", "is a relative directory"},
		{"..", "is a relative directory"},
		{"../../victim", `holds "/"`},
		{"a/b", `holds "/"`},
		{"/etc", `holds "/"`},
		{strings.Repeat("n", MaxNameLen+1), "longer than 255 bytes"},
		{"a\x00b", "control character"},
		{"a\nb", "control character"},
		{"a\x7fb", "control character"},
	}
	for _, tt := range tests {
		err := CheckName(tt.name)
		if tt.wantErr == "" && err != nil {
			t.Errorf("CheckName(%.20q) = %v, want nil", tt.name, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("CheckName(%.20q) = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

// TestParseValueQuotesShort: a bad value is echoed in at most a few bytes
// (principle 5); it used to be quoted whole.
func TestParseValueQuotesShort(t *testing.T) {
	huge := strings.Repeat("7", 100000) + "x"
	for _, typ := range []ParamType{Integer, Boolean, Time} {
		_, err := ParseValue(typ, huge)
		if err == nil || len(err.Error()) > 100 || !strings.Contains(err.Error(), "(100001 bytes)") {
			t.Errorf("ParseValue(%s, 100001 bytes) error is %d bytes: %.120s", typ, len(fmt.Sprint(err)), err)
		}
	}
}
