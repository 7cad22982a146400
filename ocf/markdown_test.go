package ocf

import (
	"strings"
	"testing"
)

func TestMarkdown(t *testing.T) {
	tests := []struct {
		reload bool
		want   []string
		absent []string
	}{
		{
			reload: false,
			want: []string{
				"# ocf:vnfha:testagent\n",
				"Agent for package ocf's tests.\n",
				"meta-data in OCF 1.1",
				"| `name` | string | — | yes | no | no | A required string |",
				"| `count` | integer | `3` | no | no | no | An integer with a default. |",
				"| `path` | string | — | no | yes | no | A unique string with <markup> & \\| pipes |",
				"| `monitor` | 20s | 11s | Promoted | 0 |",
				"| `notify` | 1500ms | — | — | — |",
				"| 8 | running promoted |",
				"| 7 | not running |",
			},
			absent: []string{"reload-agent`;"},
		},
		{
			reload: true,
			want: []string{
				"meta-data in OCF 1.0",
				"| `delay` | time | `5s` | no | no | yes | A time |",
				"| `reload-agent` | 20s |",
				"applied in place by `reload-agent`",
			},
		},
	}
	for _, tt := range tests {
		md := string(mustAgent(t, tt.reload).Markdown())
		for _, w := range tt.want {
			if !strings.Contains(md, w) {
				t.Errorf("reload=%v: page lacks %q:\n%s", tt.reload, w, md)
			}
		}
		for _, w := range tt.absent {
			if strings.Contains(md, w) {
				t.Errorf("reload=%v: page has %q", tt.reload, w)
			}
		}
	}
}

func TestMarkdownNotes(t *testing.T) {
	tests := []struct {
		name  string
		notes string
		want  string // what the page ends with
	}{
		// Without notes the exit codes table ends the page.
		{"none", "", "|\n"},
		{"blank", " \n\t\n", "|\n"},
		{"text", "\nA *note*.\n\n- one\n- two\n\n", "|\n\n## Notes\n\nA *note*.\n\n- one\n- two\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decl := testAgentDecl(false)
			decl.Notes = tt.notes
			a, err := New(decl)
			if err != nil {
				t.Fatal(err)
			}
			md := string(a.Markdown())
			if !strings.HasSuffix(md, tt.want) {
				t.Errorf("page ends with %q, want %q", md[max(0, len(md)-120):], tt.want)
			}
			if n, want := strings.Count(md, "## Notes"), strings.Count(tt.want, "## Notes"); n != want {
				t.Errorf("page has %d Notes headings, want %d", n, want)
			}
			if codes, notes := strings.Index(md, "## Exit codes"), strings.Index(md, "## Notes"); notes >= 0 && notes < codes {
				t.Error("notes come before the exit codes")
			}
			meta, err := a.MetaData()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(meta), "note*") {
				t.Error("notes leaked into the meta-data")
			}
		})
	}
}
