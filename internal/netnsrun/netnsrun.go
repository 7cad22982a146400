// Package netnsrun runs a function inside another network namespace, the
// one delicate thing that the lab, the vip agent and the test namespaces
// all need. Linux keeps the network namespace per thread and Go moves
// goroutines between threads, so f must run on a locked thread that is
// switched in and then back, and a thread that cannot be switched back
// must never serve another goroutine.
package netnsrun

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Run runs f on an OS thread switched into target and waits for it.
// Sockets f opens belong to target for their whole life, wherever they are
// used afterwards; so does a process f starts with exec. f runs on a
// goroutine of its own: a panic in f is raised again in the caller, and a
// runtime.Goexit in f (t.FailNow) is reported as an error. If the thread
// cannot return to its own namespace it stays locked, so the runtime ends
// it with the goroutine.
func Run(target netns.NsHandle, f func() error) error {
	type outcome struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan outcome, 1)
	go func() {
		// Until f returns normally this reports a Goexit.
		o := outcome{err: fmt.Errorf("in netns %s: the function exited its goroutine (t.FailNow?)", target)}
		defer func() { done <- o }()
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			o.err = fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			o.err = fmt.Errorf("enter netns %s: %w", target, err)
			return
		}
		defer func() {
			if err := netns.Set(orig); err != nil {
				if o.err == nil {
					o.err = fmt.Errorf("leave netns %s: %w", target, err)
				}
				return
			}
			runtime.UnlockOSThread()
		}()
		defer func() {
			if v := recover(); v != nil {
				o = outcome{panicked: true, value: v}
			}
		}()
		o.err = f()
	}()
	o := <-done
	if o.panicked {
		panic(o.value)
	}
	return o.err
}
