package controld

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/vnfha/vnfha/internal/pcmkipc"
)

// The answers in testdata were recorded from Pacemaker 2.1.5's controller in
// a 3-node lab (see testdata/README.md).
func recorded(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFailAnswer(t *testing.T) {
	text := func(name string) []byte {
		_, b, err := pcmkipc.Unframe(recorded(t, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name     string
		text     []byte
		rsc      string
		wantDone bool
		wantErr  string
	}{
		{"recorded", text("answer-recorded.bin"), "app", true, ""},
		{"unprivileged client", text("answer-unprivileged.bin"), "app", true, "Unprivileged user cannot fail resources"},
		{"another resource's answer", text("answer-other-resource.bin"), "app", false, ""},
		{"not an answer", []byte(`<create_request_adv crm_task="lrm_refresh"/>`), "app", false, ""},
		{"not XML", []byte(`<create_request_adv`), "app", true, "parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done, err := failAnswer(tt.text, tt.rsc)
			if done != tt.wantDone {
				t.Errorf("done = %v, want %v", done, tt.wantDone)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("err = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.name == "unprivileged client" && !errors.Is(err, ErrRejected) {
				t.Errorf("err %v does not wrap ErrRejected", err)
			}
		})
	}
}

func TestFailRequest(t *testing.T) {
	f := Failure{Node: "node2", Resource: `app:1"<&>`, Class: "ocf", Provider: "vnfha", Type: "vnfc",
		FeatureSet: "3.16.1", Client: "vnfha-vnfc"}
	text, ref, err := failRequest(f)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(text); err != nil {
		t.Fatalf("request is not XML: %v\n%s", err, text)
	}
	for _, c := range []struct{ path, attr, want string }{
		{"/create_request_adv", "crm_task", "lrm_fail"},
		{"/create_request_adv", "crm_sys_to", "crmd"},
		{"/create_request_adv", "crm_host_to", "node2"},
		{"/create_request_adv", "subt", "request"},
		{"/create_request_adv", "reference", ref},
		{"/create_request_adv/crm_xml/rsc_op", "on_node", "node2"},
		// crm_resource's placeholder: action (its pid), transition 0,
		// target rc 0.
		{"/create_request_adv/crm_xml/rsc_op", "transition-key", strconv.Itoa(os.Getpid()) + ":0:0:xxxxxxxx-xrsc-opxx-xcrm-resourcexxxx"},
		{"/create_request_adv/crm_xml/rsc_op/primitive", "id", f.Resource},
		{"/create_request_adv/crm_xml/rsc_op/primitive", "class", "ocf"},
		{"/create_request_adv/crm_xml/rsc_op/primitive", "provider", "vnfha"},
		{"/create_request_adv/crm_xml/rsc_op/primitive", "type", "vnfc"},
		{"/create_request_adv/crm_xml/rsc_op/attributes", "crm_feature_set", "3.16.1"},
	} {
		e := doc.FindElement(c.path)
		if got := e.SelectAttrValue(c.attr, "<absent>"); e == nil || got != c.want {
			t.Errorf("%s/@%s = %q, want %q", c.path, c.attr, got, c.want)
		}
	}
	if !strings.HasPrefix(ref, "lrm_fail-vnfha-vnfc-") {
		t.Errorf("reference %q", ref)
	}
	if _, ref2, _ := failRequest(f); ref2 == ref {
		t.Errorf("two requests share the reference %q", ref)
	}
}

func TestFailureCheck(t *testing.T) {
	full := Failure{Node: "n", Resource: "r", Class: "ocf", Provider: "vnfha", Type: "vnfc", FeatureSet: "3.16.1", Client: "c"}
	if err := full.check(); err != nil {
		t.Fatal(err)
	}
	noProvider := full
	noProvider.Provider = "" // a class without providers, e.g. systemd
	if err := noProvider.check(); err != nil {
		t.Error(err)
	}
	for _, clear := range []func(*Failure){
		func(f *Failure) { f.Node = "" }, func(f *Failure) { f.Resource = "" }, func(f *Failure) { f.Class = "" },
		func(f *Failure) { f.Type = "" }, func(f *Failure) { f.FeatureSet = "" }, func(f *Failure) { f.Client = "" },
	} {
		f := full
		clear(&f)
		if err := f.check(); err == nil {
			t.Errorf("%+v accepted", f)
		}
	}
}

func FuzzFailAnswer(f *testing.F) {
	for _, n := range []string{"answer-recorded.bin", "answer-unprivileged.bin", "answer-other-resource.bin"} {
		_, text, _ := pcmkipc.Unframe(recorded(f, n))
		f.Add(text, "app")
	}
	f.Fuzz(func(t *testing.T, text []byte, rsc string) {
		done, err := failAnswer(text, rsc)
		if err != nil && !done {
			t.Fatalf("an error that does not end the wait: %v", err)
		}
		// The supervisor logs the error: it stays short, whatever came.
		if err != nil && len(err.Error()) > 1024 {
			t.Fatalf("an error of %d bytes", len(err.Error()))
		}
	})
}
