package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

// FuzzKeyFromPath: a key taken from any path is valid, and a valid key
// escaped into a path comes back unchanged.
func FuzzKeyFromPath(f *testing.F) {
	for _, s := range []string{"/v1/checkpoints/a", "/v1/checkpoints/a/b", "/v1/checkpoints/a%2Fb", "/v1/checkpoints/a/../b",
		"/v1/checkpoints/%2e%2e", "/v1/checkpoints/%zz", "/v1/checkpoints/", "/v1/checkpoints/%C3%A9", "/v1/checkpoints/a%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		key, err := keyFromPath(p, pathItem)
		if err != nil {
			return
		}
		if verr := checkpoint.ValidKey(key); verr != nil {
			t.Fatalf("keyFromPath(%q) = %q, which is invalid: %v", p, key, verr)
		}
		back, err := keyFromPath(pathItem+url.PathEscape(key), pathItem)
		if err != nil || back != key {
			t.Fatalf("escaped %q came back as %q, %v", key, back, err)
		}
	})
}

// FuzzCond: any pair of condition headers gives a Cond or an error, and
// a Cond's revision is what the header said.
func FuzzCond(f *testing.F) {
	for _, s := range [][2]string{{`"1"`, ""}, {"2", ""}, {`W/"1"`, ""}, {"*", ""}, {`"1", "2"`, ""}, {"", "*"}, {"", `"3"`}, {`"18446744073709551615"`, ""}, {`"18446744073709551616"`, ""}, {`""`, ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, im, inm string) {
		h := http.Header{}
		if im != "" {
			h.Set("If-Match", im)
		}
		if inm != "" {
			h.Set("If-None-Match", inm)
		}
		c, err := condFromHeaders(h)
		if err != nil {
			return
		}
		switch {
		case im == "" && inm == "" && c.Match:
			t.Fatalf("no header gave %+v", c)
		case inm != "" && (!c.Match || c.Rev != 0):
			t.Fatalf("If-None-Match %q gave %+v", inm, c)
		case im != "" && (!c.Match || c.Rev == 0 || !strings.Contains(im, formatUint(c.Rev))):
			t.Fatalf("If-Match %q gave %+v", im, c)
		}
	})
}

func formatUint(v uint64) string { return etag(v)[1 : len(etag(v))-1] }

// FuzzQuery: the list and watch queries refuse or give bounded, valid
// values.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"prefix=a/&after=a/1&limit=10", "limit=0", "prefx=a", "prefix=%zz", "from=3&wait=30s", "wait=30", "wait=-1s", "from=x", "prefix=a&prefix=b", "&&;", "limit=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if q, err := parseListQuery(raw); err == nil {
			if q.limit < 1 || q.limit > MaxListLimit || checkpoint.ValidPrefix(q.prefix) != nil || len(q.after) > checkpoint.MaxKeyLen {
				t.Fatalf("list query %q gave %+v", raw, q)
			}
		}
		if q, err := parseWatchQuery(raw, time.Minute); err == nil {
			if q.wait < 0 || q.wait > time.Minute || checkpoint.ValidPrefix(q.prefix) != nil {
				t.Fatalf("watch query %q gave %+v", raw, q)
			}
		}
	})
}
