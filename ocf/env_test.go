package ocf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Env
		wantErr string
	}{
		{
			name: "empty environment",
			env:  map[string]string{},
			want: Env{RscTmp: DefaultRscTmp},
		},
		{
			name: "primitive monitor",
			env: map[string]string{
				"OCF_RESOURCE_INSTANCE": "vip", "OCF_RESOURCE_TYPE": "vip", "OCF_RESOURCE_PROVIDER": "vnfha",
				"HA_RSCTMP": "/run/x", "HA_debug": "1", "OCF_RESKEY_CRM_meta_interval": "10000",
				"OCF_RESKEY_CRM_meta_timeout": "20000", "OCF_RESKEY_CRM_meta_on_node": "node1",
				"OCF_RESKEY_CRM_meta_on_node_uuid": "1", "OCF_CHECK_LEVEL": "10",
				"OCF_RESKEY_crm_feature_set": "3.16.2",
			},
			want: Env{Instance: "vip", Type: "vip", Provider: "vnfha", RscTmp: "/run/x", Debug: true,
				Interval: 10 * time.Second, Timeout: 20 * time.Second, OnNode: "node1", OnNodeUUID: "1", CheckLevel: 10,
				FeatureSet: "3.16.2", Log: LogTarget{Debug: true}},
		},
		{
			name: "HA_debug=0 is off",
			env:  map[string]string{"HA_debug": "0"},
			want: Env{RscTmp: DefaultRscTmp},
		},
		{
			name: "promotable clone as Pacemaker 2.1.5 passes it",
			env: map[string]string{
				"OCF_RESOURCE_INSTANCE": "vnfc:1", "OCF_RESKEY_CRM_meta_clone": "1",
				"OCF_RESKEY_CRM_meta_clone_max": "2", "OCF_RESKEY_CRM_meta_clone_node_max": "1",
				"OCF_RESKEY_CRM_meta_promoted_max": "1", "OCF_RESKEY_CRM_meta_promoted_node_max": "1",
				"OCF_RESKEY_CRM_meta_master_max": "1", "OCF_RESKEY_CRM_meta_master_node_max": "1",
				"OCF_RESKEY_CRM_meta_globally_unique": "false", "OCF_RESKEY_CRM_meta_notify": "true",
				"OCF_RESKEY_CRM_meta_role": "Promoted", "OCF_RESKEY_CRM_meta_promotable": "true",
			},
			want: Env{Instance: "vnfc:1", RscTmp: DefaultRscTmp, Role: RolePromoted, Clone: &Clone{
				Instance: "1", Max: 2, NodeMax: 1, Notify: true, Promotable: true, PromotedMax: 1, PromotedNodeMax: 1}},
		},
		{
			name: "deprecated master names only",
			env: map[string]string{
				"OCF_RESKEY_CRM_meta_clone_max": "3", "OCF_RESKEY_CRM_meta_clone_node_max": "1",
				"OCF_RESKEY_CRM_meta_master_max": "2", "OCF_RESKEY_CRM_meta_master_node_max": "1",
				"OCF_RESKEY_CRM_meta_role": "Slave",
			},
			want: Env{RscTmp: DefaultRscTmp, Role: RoleUnpromoted, Clone: &Clone{
				Max: 3, NodeMax: 1, Promotable: true, PromotedMax: 2, PromotedNodeMax: 1}},
		},
		{
			name: "new names win over deprecated ones",
			env: map[string]string{
				"OCF_RESKEY_CRM_meta_clone_max": "3", "OCF_RESKEY_CRM_meta_promoted_max": "2", "OCF_RESKEY_CRM_meta_master_max": "1",
			},
			want: Env{RscTmp: DefaultRscTmp, Clone: &Clone{Max: 3, Promotable: true, PromotedMax: 2}},
		},
		{
			name: "plain clone",
			env: map[string]string{
				"OCF_RESKEY_CRM_meta_clone_max": "2", "OCF_RESKEY_CRM_meta_clone_node_max": "1", "OCF_RESKEY_CRM_meta_globally_unique": "true",
			},
			want: Env{RscTmp: DefaultRscTmp, Clone: &Clone{Max: 2, NodeMax: 1, GloballyUnique: true}},
		},
		{
			name:    "malformed interval",
			env:     map[string]string{"OCF_RESKEY_CRM_meta_interval": "10s"},
			want:    Env{RscTmp: DefaultRscTmp},
			wantErr: "OCF_RESKEY_CRM_meta_interval",
		},
		{
			name:    "malformed clone_max and role",
			env:     map[string]string{"OCF_RESKEY_CRM_meta_clone_max": "two", "OCF_RESKEY_CRM_meta_role": "Boss"},
			want:    Env{RscTmp: DefaultRscTmp, Clone: &Clone{}},
			wantErr: "OCF_RESKEY_CRM_meta_clone_max",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnv(MapLookup(tt.env))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v does not mention %q", err, tt.wantErr)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("ParseEnv =\n%+v (clone %+v)\nwant\n%+v (clone %+v)", *got, got.Clone, tt.want, tt.want.Clone)
			}
		})
	}
}

// TestParseLogTarget follows what pacemaker-execd 2.1.5 gives agents: in
// the lab, HA_LOGFILE=/var/log/pacemaker/pacemaker.log, HA_LOGFACILITY=none,
// PCMK_logfile and PCMK_logfacility the same, HA_debug=0 (seen with
// ocf:heartbeat:Dummy trace_ra=1, which prints the environment).
func TestParseLogTarget(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want LogTarget
	}{
		{"nothing", map[string]string{}, LogTarget{}},
		{"lab", map[string]string{"HA_LOGFILE": "/var/log/pacemaker/pacemaker.log", "HA_LOGFACILITY": "none",
			"PCMK_logfile": "/var/log/pacemaker/pacemaker.log", "PCMK_logfacility": "none", "HA_debug": "0"},
			LogTarget{File: "/var/log/pacemaker/pacemaker.log"}},
		{"default node", map[string]string{"HA_LOGFILE": "/var/log/pacemaker/pacemaker.log", "HA_LOGFACILITY": "daemon", "HA_debug": "1"},
			LogTarget{File: "/var/log/pacemaker/pacemaker.log", Facility: "daemon", Debug: true}},
		{"PCMK names when HA ones are absent", map[string]string{"PCMK_logfile": "/l", "PCMK_logfacility": "Local3"},
			LogTarget{File: "/l", Facility: "local3"}},
		{"HA names win", map[string]string{"HA_LOGFILE": "/a", "PCMK_logfile": "/b", "HA_LOGFACILITY": "user", "PCMK_logfacility": "daemon"},
			LogTarget{File: "/a", Facility: "user"}},
		{"none and /dev/null mean none", map[string]string{"HA_LOGFILE": "NONE", "HA_LOGFACILITY": "/dev/null"}, LogTarget{}},
		{"unknown facility", map[string]string{"HA_LOGFACILITY": "daemon.info"}, LogTarget{}},
		{"relative file", map[string]string{"HA_LOGFILE": "pacemaker.log"}, LogTarget{}},
		{"trace_ra turns debug on", map[string]string{"HA_debug": "0", "OCF_RESKEY_trace_ra": "1"}, LogTarget{Debug: true}},
		{"OCF_TRACE_RA turns debug on", map[string]string{"OCF_TRACE_RA": "yes"}, LogTarget{Debug: true}},
		{"trace_ra false", map[string]string{"OCF_TRACE_RA": "false", "OCF_RESKEY_trace_ra": "x"}, LogTarget{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseEnv(MapLookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if e.Log != tt.want {
				t.Errorf("Log = %+v, want %+v", e.Log, tt.want)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]Role{"": RoleNone, "Started": RoleStarted, "Master": RolePromoted,
		"promoted": RolePromoted, "Slave": RoleUnpromoted, "Unpromoted": RoleUnpromoted} {
		if got, err := ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseRole("Stopped-ish"); err == nil {
		t.Error("ParseRole accepted an unknown role")
	}
}

func FuzzParseEnv(f *testing.F) {
	f.Add("10000", "20000", "2", "1", "1", "", "Promoted", "true")
	f.Add("", "", "", "", "", "1", "Master", "no")
	f.Add("-5", "x", "two", "9999999999999999999", "", "", "", "")
	f.Fuzz(func(t *testing.T, interval, timeout, cloneMax, promotedMax, masterMax, checkLevel, role, notify string) {
		env := map[string]string{
			"OCF_RESKEY_CRM_meta_interval": interval, "OCF_RESKEY_CRM_meta_timeout": timeout,
			"OCF_RESKEY_CRM_meta_clone_max": cloneMax, "OCF_RESKEY_CRM_meta_promoted_max": promotedMax,
			"OCF_RESKEY_CRM_meta_master_max": masterMax, "OCF_CHECK_LEVEL": checkLevel,
			"OCF_RESKEY_CRM_meta_role": role, "OCF_RESKEY_CRM_meta_notify": notify,
		}
		e, err := ParseEnv(MapLookup(env))
		if e == nil {
			t.Fatal("ParseEnv returned nil Env")
		}
		if e.Interval < 0 || e.Timeout < 0 {
			t.Errorf("negative duration from %q %q", interval, timeout)
		}
		if err == nil && e.Clone == nil {
			t.Errorf("clone_max given but no Clone")
		}
	})
}

// TestStateDir: an instance's state directory stays one directory below
// HA_RSCTMP/vnfha-<agent>; any name that would leave it, and a relative
// HA_RSCTMP, are ERR_CONFIGURED before any file is touched.
func TestStateDir(t *testing.T) {
	for _, tt := range []struct {
		instance, rsctmp, want string
	}{
		{"ckpt:0", "/run/resource-agents", "/run/resource-agents/vnfha-checkpoint/ckpt:0"},
		{"", "/run/resource-agents", ""},
		{"..", "/run/resource-agents", ""},
		{"a/../../etc", "/run/resource-agents", ""},
		{"a\x00b", "/run/resource-agents", ""},
		{strings.Repeat("x", 256), "/run/resource-agents", ""},
		{"ckpt", "run/resource-agents", ""},
	} {
		e := &Env{Instance: tt.instance, RscTmp: tt.rsctmp}
		got, err := e.StateDir("checkpoint")
		if tt.want == "" {
			var oe *Error
			if !errors.As(err, &oe) || oe.Code != ErrNotConfigured {
				t.Errorf("StateDir(%q, %q) = %q, %v; want ERR_CONFIGURED", tt.instance, tt.rsctmp, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("StateDir(%q) = %q, %v; want %q", tt.instance, got, err, tt.want)
		}
	}
}
