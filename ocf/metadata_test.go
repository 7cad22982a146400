package ocf

import (
	"bytes"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

func TestMetaDataValidates(t *testing.T) {
	for _, reload := range []bool{false, true} {
		md, err := mustAgent(t, reload).MetaData()
		if err != nil {
			t.Fatal(err)
		}
		ocftest.ValidateMetaData(t, md)
	}
}

// TestMetaDataCheckCatches proves the validation can fail: the OCF 1.1
// features that ra-api-1.dtd lacks must be caught.
func TestMetaDataCheckCatches(t *testing.T) {
	xmllint := ocftest.RequireTool(t, "xmllint")
	ocftest.RequireFile(t, ocftest.RaAPIDTD)
	good, err := mustAgent(t, false).MetaData()
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"reloadable attribute": bytes.Replace(good, []byte(`<parameter name="count"`), []byte(`<parameter name="count" reloadable="1"`), 1),
		"reload-agent action":  bytes.Replace(good, []byte(`<action name="notify"`), []byte(`<action name="reload-agent"`), 1),
		"select type":          bytes.Replace(good, []byte(`type="string"`), []byte(`type="select"`), 1),
		"no DOCTYPE":           bytes.Replace(good, []byte(`<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">`), nil, 1),
	} {
		if bytes.Equal(bad, good) {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if err := ocftest.CheckMetaData(xmllint, bad, t.TempDir()); err == nil {
			t.Errorf("%s: xmllint accepted invalid meta-data", name)
		}
	}
}

func TestMetaDataContent(t *testing.T) {
	tests := []struct {
		name        string
		reload      bool
		wantVersion string
		wantActions string
		// unique attribute per parameter
		wantUnique map[string]string
	}{
		{
			name: "no reload: OCF 1.1", wantVersion: "1.1",
			wantActions: "start stop monitor monitor promote demote notify meta-data validate-all",
			wantUnique:  map[string]string{"name": "0", "count": "0", "enabled": "0", "delay": "0", "path": "1"},
		},
		{
			name: "reload: OCF 1.0 with legacy reload", reload: true, wantVersion: "1.0",
			wantActions: "start stop monitor monitor promote demote notify reload meta-data validate-all",
			// Only delay is reloadable: every other parameter must force a restart.
			wantUnique: map[string]string{"name": "1", "count": "1", "enabled": "1", "delay": "0", "path": "1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := mustAgent(t, tt.reload).MetaData()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(md, []byte(`<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">`)) {
				t.Errorf("no DOCTYPE in\n%s", md)
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(md); err != nil {
				t.Fatal(err)
			}
			root := doc.SelectElement("resource-agent")
			if root.SelectAttrValue("name", "") != "testagent" || root.SelectAttrValue("version", "") != "0.1" {
				t.Errorf("root attributes: %v", root.Attr)
			}
			if v := root.SelectElement("version").Text(); v != tt.wantVersion {
				t.Errorf("version = %q, want %q", v, tt.wantVersion)
			}
			var names []string
			for _, a := range root.FindElements("actions/action") {
				names = append(names, a.SelectAttrValue("name", ""))
				if a.SelectAttrValue("name", "") == "notify" && a.SelectAttrValue("timeout", "") != "1500ms" {
					t.Errorf("notify timeout = %q", a.SelectAttrValue("timeout", ""))
				}
			}
			if got := strings.Join(names, " "); got != tt.wantActions {
				t.Errorf("actions = %q, want %q", got, tt.wantActions)
			}
			for _, p := range root.FindElements("parameters/parameter") {
				name := p.SelectAttrValue("name", "")
				if got := p.SelectAttrValue("unique", ""); got != tt.wantUnique[name] {
					t.Errorf("parameter %s unique = %q, want %q", name, got, tt.wantUnique[name])
				}
			}
			if d := root.FindElement("parameters/parameter[@name='delay']/content"); d.SelectAttrValue("type", "") != "time" || d.SelectAttrValue("default", "") != "5s" {
				t.Errorf("delay content = %v", d.Attr)
			}
			if m := root.FindElement("actions/action[@role='Promoted']"); m == nil || m.SelectAttrValue("interval", "") != "11s" || m.SelectAttrValue("depth", "") != "0" {
				t.Errorf("promoted monitor missing or wrong")
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(a *Agent)
		want   string
	}{
		{"bad name", func(a *Agent) { a.Name = "my agent" }, "not a valid name"},
		{"no shortdesc", func(a *Agent) { a.ShortDesc = "" }, "shortdesc and longdesc"},
		{"duplicate parameter", func(a *Agent) { a.Params = append(a.Params, a.Params[0]) }, "declared twice"},
		{"select type", func(a *Agent) { a.Params[0].Type = "select" }, "unknown type"},
		{"bad default", func(a *Agent) { a.Params[1].Default = "three" }, "default"},
		{"required with default", func(a *Agent) { a.Params[0].Default = "x" }, "required parameter cannot have a default"},
		{"unique and reloadable", func(a *Agent) { a.Params[4].Reloadable = true }, "unique parameter cannot be reloadable"},
		{"unknown action", func(a *Agent) { a.Actions = append(a.Actions, Action{Name: "migrate_to", Timeout: 1}) }, "not an OCF action"},
		{"no timeout", func(a *Agent) { a.Actions[0].Timeout = 0 }, "timeout is required"},
		{"two handlers", func(a *Agent) { a.Actions[3].Handler = a.Actions[2].Handler }, "two handlers"},
		{"no stop", func(a *Agent) { a.Actions = a.Actions[:1] }, "stop is required"},
		{"promote without demote", func(a *Agent) { a.Actions = append(a.Actions[:5], a.Actions[6:]...) }, "declared together"},
		{"handler on meta-data", func(a *Agent) {
			a.Actions = append(a.Actions, Action{Name: ActionMetaData, Timeout: 1, Handler: a.Actions[0].Handler})
		}, "takes no handler"},
		{"declared without handler", func(a *Agent) {
			a.Actions = append(a.Actions, Action{Name: ActionReloadAgent, Timeout: 1})
		}, "without a handler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testAgentDecl(false)
			a.Params = append([]Param(nil), a.Params...)
			tt.change(&a)
			_, err := New(a)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := New(testAgentDecl(true)); err != nil {
		t.Errorf("valid declaration rejected: %v", err)
	}
}
