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
