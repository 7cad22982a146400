package attrd

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/vnfha/vnfha/internal/pcmkipc"
)

// The answers in testdata were recorded from Pacemaker 2.1.5's attrd in a
// lab node (testdata/README.md).
func recorded(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var recordings = []string{"answer-value.bin", "answer-localhost.bin", "answer-other-node.bin",
	"answer-deleted.bin", "answer-unknown.bin", "answer-not-xml.bin"}

func TestQueryAnswers(t *testing.T) {
	tests := []struct {
		file, node, name string
		want             Value
		wantErr          string
	}{
		{"answer-value.bin", "node1", "master-rec", Value{Set: true, Value: "5"}, ""},
		{"answer-localhost.bin", Localhost, "master-rec", Value{Set: true, Value: "5"}, ""},
		{"answer-other-node.bin", "node2", "master-rec", Value{}, ""},
		{"answer-deleted.bin", "node1", "master-del", Value{}, ""},
		{"answer-unknown.bin", "node1", "master-nosuch", Value{}, ""},
		{"answer-not-xml.bin", "node1", "master-rec", Value{}, `refused the request: status "76"`},
		// An answer that does not fit the question is an error, never a
		// missing value: the caller would set a score on its strength.
		{"answer-value.bin", "node1", "master-other", Value{}, `answer about "master-rec"`},
		{"answer-value.bin", "node2", "master-rec", Value{}, `0 values for node "node2"`},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.node+"/"+tt.name, func(t *testing.T) {
			text, err := answerText(recorded(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseQueryReply(text, tt.node, tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if tt.file == "answer-not-xml.bin" && !errors.Is(err, ErrRefused) {
					t.Errorf("%v does not wrap ErrRefused", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseQueryReplyRejects(t *testing.T) {
	for _, tt := range []struct{ name, text, wantErr string }{
		{"not XML", `<build_query_reply`, "parse"},
		{"empty", ``, "empty answer"},
		{"another daemon's message", `<x t="crmd" subt="query" attr_name="a"><node attr_host="n" attr_value="1"/></x>`, `type "crmd"`},
		{"another subtype", `<x t="attrd" subt="update" attr_name="a"/>`, `subtype "update"`},
		{"two values for the node", `<x t="attrd" attr_name="a"><node attr_host="n" attr_value="1"/><node attr_host="n" attr_value="2"/></x>`, "2 values"},
		{"localhost, several nodes", `<x t="attrd" attr_name="a"><node attr_host="n" attr_value="1"/><node attr_host="m"/></x>`, "2 values"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			node := "n"
			if strings.HasPrefix(tt.name, "localhost") {
				node = Localhost
			}
			if v, err := parseQueryReply([]byte(tt.text), node, "a"); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("= %+v, %v; want an error with %q", v, err, tt.wantErr)
			}
		})
	}
	// attrd before 2.1.3 sent no subtype: still a query's answer.
	v, err := parseQueryReply([]byte(`<x t="attrd" attr_name="a"><node attr_host="n" attr_value="7"/></x>`), "n", "a")
	if err != nil || v != (Value{Set: true, Value: "7"}) {
		t.Errorf("answer without subtype = %+v, %v", v, err)
	}
}

// TestAnswerText: only the answer to our one request is taken.
func TestAnswerText(t *testing.T) {
	rec := recorded(t, "answer-value.bin")
	if _, err := answerText(rec); err != nil {
		t.Fatal(err)
	}
	_, text, _ := pcmkipc.Unframe(rec)
	if _, err := answerText(pcmkipc.Frame(requestID+1, 0, text)); err == nil || !strings.Contains(err.Error(), "answer to request 2") {
		t.Errorf("answer to another request: %v", err)
	}
	if _, err := answerText(rec[:30]); err == nil {
		t.Error("a truncated message was taken")
	}
}

// TestQueryRequest: the request has the attributes attrd reads
// (attrd_client_query: task, attr_name, attr_host), values escaped.
func TestQueryRequest(t *testing.T) {
	text, err := queryRequest(`node"<&>`, "master-app:1", "vnfha-vnfc")
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(text); err != nil {
		t.Fatalf("request is not XML: %v\n%s", err, text)
	}
	for attr, want := range map[string]string{"t": "attrd", "task": "query", "attr_name": "master-app:1",
		"attr_host": `node"<&>`, "src": "vnfha-vnfc"} {
		if got := doc.Root().SelectAttrValue(attr, "<absent>"); got != want {
			t.Errorf("@%s = %q, want %q", attr, got, want)
		}
	}
	if bytes.ContainsRune(text, 0) {
		t.Error("NUL in the request text")
	}
}

func FuzzParseQueryReply(f *testing.F) {
	for _, n := range recordings {
		_, text, _ := pcmkipc.Unframe(recorded(f, n))
		f.Add(text, "node1", "master-rec")
	}
	f.Fuzz(func(t *testing.T, text []byte, node, name string) {
		v, err := parseQueryReply(text, node, name)
		if err != nil && v != (Value{}) {
			t.Fatalf("a value %+v with an error %v", v, err)
		}
		if v.Set && v.Value == "" {
			t.Fatal("set with an empty value")
		}
		// The monitor logs the error: it stays short, whatever came.
		if err != nil && len(err.Error()) > 1024 {
			t.Fatalf("an error of %d bytes", len(err.Error()))
		}
	})
}
