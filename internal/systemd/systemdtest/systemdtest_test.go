package systemdtest

import (
	"context"
	"github.com/godbus/dbus/v5"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBoot boots systemd, checks that it runs as PID 1 in its own cgroup
// and mounts, and that its cleanup leaves no cgroup and no mount behind.
func TestBoot(t *testing.T) {
	Require(t)
	mountsBefore := mounts(t)
	var s *System
	t.Run("boot", func(t *testing.T) {
		s = Boot(t)
		st, err := s.systemState()
		if err != nil || st != "running" {
			t.Errorf("SystemState = %q, %v; want running", st, err)
		}
		comm, err := os.ReadFile(s.Path("/proc/1/comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "systemd" {
			t.Errorf("PID 1 inside is %q (%v), want systemd", comm, err)
		}
		// The test sees cgroup paths from its own cgroup namespace root.
		cg, err := os.ReadFile(s.Path("/proc/1/cgroup"))
		want := "0::/" + filepath.Base(s.Cgroup) + "/init.scope"
		if err != nil || !strings.Contains(string(cg), want+"\n") {
			t.Errorf("systemd's cgroup is %q (%v), want %s", cg, err, want)
		}
		// systemd's own view: its cgroup namespace is rooted at s.Cgroup.
		if cg, err := s.property("/org/freedesktop/systemd1/unit/init_2escope", "org.freedesktop.systemd1.Scope.ControlGroup"); err != nil || cg != "/init.scope" {
			t.Errorf("init.scope's ControlGroup = %q, %v; want /init.scope", cg, err)
		}
		if _, err := os.Stat(s.Cgroup + "/init.scope"); err != nil {
			t.Errorf("systemd did not make its init.scope in %s: %v", s.Cgroup, err)
		}
		if hp, err := s.HostPID(1); err != nil || hp != s.PID {
			t.Errorf("HostPID(1) = %d, %v; want %d", hp, err, s.PID)
		}
	})
	if s == nil {
		return
	}
	if _, err := os.Stat(s.Cgroup); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left after cleanup (stat: %v)", s.Cgroup, err)
	}
	if after := mounts(t); after != mountsBefore {
		t.Errorf("the test's mounts changed:\nbefore:\n%s\nafter:\n%s", mountsBefore, after)
	}
}

// mounts lists the test's mount points.
func mounts(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var pts []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			pts = append(pts, f[4])
		}
	}
	return strings.Join(pts, "\n")
}

// property reads a string property of an object of the manager; probes
// that hit systemd's lost first call are retried.
func (s *System) property(path dbus.ObjectPath, name string) (string, error) {
	var v dbus.Variant
	var err error
	for range 20 {
		err = s.probe(s.Addr, false, func(ctx context.Context, c *dbus.Conn) error {
			i := strings.LastIndexByte(name, '.')
			return c.Object("org.freedesktop.systemd1", path).
				CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, name[:i], name[i+1:]).Store(&v)
		})
		if err == nil {
			str, _ := v.Value().(string)
			return str, nil
		}
	}
	return "", err
}
