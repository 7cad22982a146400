package netnsrun_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vnfha/vnfha/internal/netnsrun"
	"github.com/vnfha/vnfha/internal/nstest"
)

func TestRun(t *testing.T) {
	nstest.RequireRoot(t)
	p := nstest.NewPair(t)
	target, err := netns.GetFromName(p.A.Netns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	own, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()

	t.Run("inside, then back", func(t *testing.T) {
		var sawLink bool
		err := netnsrun.Run(target, func() error {
			_, err := netlink.LinkByName(p.A.Link)
			sawLink = err == nil
			return nil
		})
		if err != nil || !sawLink {
			t.Fatalf("Run: %v; saw %s: %v", err, p.A.Link, sawLink)
		}
		// Many goroutines later, no thread is left in the namespace.
		for i := 0; i < 50; i++ {
			runtime.Gosched()
			cur, err := netns.Get()
			if err != nil {
				t.Fatal(err)
			}
			same := cur.Equal(own)
			cur.Close()
			if !same {
				t.Fatal("a thread was left in the target namespace")
			}
		}
	})
	t.Run("error", func(t *testing.T) {
		want := errors.New("boom")
		if err := netnsrun.Run(target, func() error { return want }); !errors.Is(err, want) {
			t.Errorf("Run = %v, want %v", err, want)
		}
	})
	t.Run("panic is raised in the caller", func(t *testing.T) {
		defer func() {
			if v := recover(); v != "inside" {
				t.Errorf("recovered %v, want the panic of f", v)
			}
		}()
		netnsrun.Run(target, func() error { panic("inside") })
	})
	t.Run("Goexit is an error", func(t *testing.T) {
		err := netnsrun.Run(target, func() error { runtime.Goexit(); return nil })
		if err == nil || !strings.Contains(err.Error(), "exited its goroutine") {
			t.Errorf("Run = %v", err)
		}
	})
	t.Run("closed handle", func(t *testing.T) {
		if err := netnsrun.Run(netns.None(), func() error { return nil }); err == nil || !strings.Contains(err.Error(), "enter netns") {
			t.Errorf("Run with no namespace = %v", err)
		}
	})
}
