package vnfc

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: "  \t\n ", want: nil},
		{in: "/bin/sleep 100000", want: []string{"/bin/sleep", "100000"}},
		{in: "  a   b\tc\nd  ", want: []string{"a", "b", "c", "d"}},
		{in: `a 'b c' "d e"`, want: []string{"a", "b c", "d e"}},
		{in: `'it''s'`, want: []string{"its"}},
		{in: `"it's"`, want: []string{"it's"}},
		{in: `'say "hi"'`, want: []string{`say "hi"`}},
		{in: `"a \"q\" \\ \n \$"`, want: []string{`a "q" \ \n \$`}},
		{in: `a\ b c\\d \'e`, want: []string{"a b", `c\d`, "'e"}},
		{in: "a\\\nb", want: []string{"ab"}},
		{in: `'' "" x`, want: []string{"", "", "x"}},
		{in: `pre'mid'"post"`, want: []string{"premidpost"}},
		{in: `$HOME ~ *.c ; | && $(id)`, want: []string{"$HOME", "~", "*.c", ";", "|", "&&", "$(id)"}},
		{in: `--opt="a b"`, want: []string{"--opt=a b"}},
		{in: `'open`, err: "unterminated ' quote"},
		{in: `"open`, err: `unterminated " quote`},
		{in: `"esc\"`, err: `unterminated " quote`},
		{in: `trailing\`, err: "backslash at the end"},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("splitWords(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// quoteWord quotes w so that splitWords gives it back: the inverse the
// fuzz test checks against.
func quoteWord(w string) string {
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{"/bin/sleep 100000", `a 'b c' "d \"e\""`, `x\ y`, `''`, `"\\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitWords(s)
		if err != nil {
			return
		}
		// Quoting each word and splitting again is the identity, so no
		// word can lose or gain a character in a round trip.
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = quoteWord(w)
		}
		again, err := splitWords(strings.Join(quoted, " "))
		if err != nil || !reflect.DeepEqual(again, words) && !(len(again) == 0 && len(words) == 0) {
			t.Errorf("round trip of %q: %q, then %q, %v", s, words, again, err)
		}
	})
}
