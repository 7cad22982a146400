// Package systemd is a small client of systemd's manager API over D-Bus:
// start, stop, query and watch units, and start transient services. It is
// the systemd backend of the ocf:vnfha:vnfc agent, which Pacemaker execs
// every few seconds, so it does no work at init time, uses only godbus and
// the standard library, and leaves no goroutine running after Close.
//
// As root it talks to systemd's private socket, as systemctl does, which
// needs no bus daemon; otherwise it goes through the system bus.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// PrivateAddress is systemd's private socket. Only root may connect to it;
// there is no bus daemon behind it, so no Hello and no match rules.
const PrivateAddress = "unix:path=/run/systemd/private"

// defaultSystemBus is the system bus's address when DBUS_SYSTEM_BUS_ADDRESS
// does not say otherwise (the D-Bus specification's default).
const defaultSystemBus = "unix:path=/run/dbus/system_bus_socket"

const (
	destination                  = "org.freedesktop.systemd1"
	managerPath  dbus.ObjectPath = "/org/freedesktop/systemd1"
	managerIface                 = "org.freedesktop.systemd1.Manager"
	propsIface                   = "org.freedesktop.DBus.Properties"

	sigJobRemoved        = managerIface + ".JobRemoved"
	sigPropertiesChanged = propsIface + ".PropertiesChanged"

	errNoSuchUnit        = "org.freedesktop.systemd1.NoSuchUnit"
	errUnitExists        = "org.freedesktop.systemd1.UnitExists"
	errAlreadySubscribed = "org.freedesktop.systemd1.AlreadySubscribed"
)

// Conn is a connection to systemd's manager. It is safe for concurrent use.
type Conn struct {
	bus *dbus.Conn
	// direct is true on a peer-to-peer connection (the private socket):
	// there is no bus daemon to send Hello and match rules to, and systemd
	// sends every signal to every such connection.
	direct bool
	sigs   chan *dbus.Signal
	done   chan struct{}  // closed once the connection is gone
	wg     sync.WaitGroup // dispatch and the Watch goroutines

	subMu      sync.Mutex // serialises subscribe
	subscribed bool

	mu      sync.Mutex // guards jobs and watches
	jobs    map[*jobWaiter]struct{}
	watches map[*watcher]struct{}
}

// Dial connects to systemd: as root to its private socket, as systemctl
// does, which works without dbus-daemon; if that fails, or when not root,
// through the system bus (DBUS_SYSTEM_BUS_ADDRESS, or
// /run/dbus/system_bus_socket). ctx bounds the connection and
// authentication only.
func Dial(ctx context.Context) (*Conn, error) {
	var privErr error
	if os.Geteuid() == 0 {
		c, err := DialPrivate(ctx, PrivateAddress)
		if err == nil {
			return c, nil
		}
		privErr = err
	}
	addr := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	if addr == "" {
		addr = defaultSystemBus
	}
	c, err := DialBus(ctx, addr)
	if err != nil && privErr != nil {
		return nil, fmt.Errorf("%w (and %w)", err, privErr)
	}
	return c, err
}

// DialPrivate connects to systemd's private socket at a D-Bus address
// (PrivateAddress, or the same socket seen through another path). The
// caller must be root. For tests and unusual set-ups; see Dial.
func DialPrivate(ctx context.Context, addr string) (*Conn, error) {
	return dial(ctx, addr, true)
}

// DialBus connects to systemd through the bus daemon at a D-Bus address.
// For tests and unusual set-ups; see Dial.
func DialBus(ctx context.Context, addr string) (*Conn, error) {
	return dial(ctx, addr, false)
}

// dial connects and authenticates, and says Hello to a bus daemon. The two
// kinds of peer cannot be told apart safely: systemd's private socket
// silently drops a Hello, and a bus daemon hangs up on a connection whose
// first call is not Hello.
func dial(ctx context.Context, addr string, direct bool) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connect to systemd at %s: %w", addr, err)
	}
	bus, err := dbus.Dial(addr)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd at %s: %w", addr, err)
	}
	// godbus's handshake takes no context: closing the connection is what
	// interrupts it.
	stop := context.AfterFunc(ctx, func() { bus.Close() })
	err = bus.Auth(nil)
	if err == nil {
		if direct {
			err = settle(ctx, bus)
		} else {
			err = bus.Hello()
		}
	}
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		bus.Close()
		return nil, fmt.Errorf("connect to systemd at %s: %w", addr, err)
	}
	c := &Conn{
		bus:     bus,
		direct:  direct,
		sigs:    make(chan *dbus.Signal, 64),
		done:    make(chan struct{}),
		jobs:    map[*jobWaiter]struct{}{},
		watches: map[*watcher]struct{}{},
	}
	bus.Signal(c.sigs)
	c.wg.Add(1)
	go c.dispatch()
	return c, nil
}

// Bounds of settle: how often it pings, and how long it waits for each
// answer before it pings again.
const (
	settleTries = 20
	settleWait  = 25 * time.Millisecond
)

// settle makes sure systemd has taken in the handshake before the first
// real call. systemd 252's sd-bus server leaves a message that arrives in
// the same read as the handshake's final BEGIN unprocessed until more bytes
// come on the connection, so a first call written right after BEGIN can
// hang for good. That happens at once through a proxy, which merges the
// writes, and to a direct client when systemd is slow to read. A Ping that
// is not answered soon is followed by another, whose arrival makes systemd
// process both.
func settle(ctx context.Context, bus *dbus.Conn) error {
	obj := bus.Object(destination, managerPath)
	for range settleTries {
		call := obj.GoWithContext(ctx, "org.freedesktop.DBus.Peer.Ping", 0, make(chan *dbus.Call, 1))
		t := time.NewTimer(settleWait)
		select {
		case <-call.Done:
			t.Stop()
			return call.Err
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return fmt.Errorf("no answer to Ping after %d tries %v apart", settleTries, settleWait)
}

// Close closes the connection and waits for its goroutines (those of
// Watch included) to end. Waits for jobs in progress return an error; the
// jobs themselves go on in systemd.
func (c *Conn) Close() error {
	err := c.bus.Close()
	c.wg.Wait()
	return err
}

// manager is systemd's manager object.
func (c *Conn) manager() dbus.BusObject { return c.bus.Object(destination, managerPath) }

// dispatch hands the signals systemd sends to the job waiters and watchers
// that want them, until godbus closes the channel when the connection goes.
func (c *Conn) dispatch() {
	defer c.wg.Done()
	defer close(c.done)
	for s := range c.sigs {
		switch s.Name {
		case sigJobRemoved:
			var ev jobEvent
			if s.Path != managerPath || dbus.Store(s.Body, &ev.id, &ev.job, &ev.unit, &ev.result) != nil {
				continue
			}
			// Every waiter gets every job's end and picks its own by the
			// job's path: JobRemoved names the unit by its own name,
			// which is not the one asked for when that is an alias.
			c.mu.Lock()
			for w := range c.jobs {
				w.events = append(w.events, ev)
				poke(w.poke)
			}
			c.mu.Unlock()
		case sigPropertiesChanged:
			c.mu.Lock()
			for w := range c.watches {
				if w.path == s.Path {
					poke(w.poke)
				}
			}
			c.mu.Unlock()
		}
	}
}

// poke wakes whoever waits on ch (capacity 1) without blocking.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// subscribe makes systemd send this connection the manager's and units'
// signals: on a bus it adds a match rule for JobRemoved and calls
// Subscribe, without which systemd sends its signals to nobody on the bus;
// on the private socket Subscribe is a no-op, called for symmetry.
func (c *Conn) subscribe(ctx context.Context) error {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	if c.subscribed {
		return nil
	}
	if !c.direct {
		err := c.bus.AddMatchSignalContext(ctx,
			dbus.WithMatchSender(destination),
			dbus.WithMatchObjectPath(managerPath),
			dbus.WithMatchInterface(managerIface),
			dbus.WithMatchMember("JobRemoved"))
		if err != nil {
			return fmt.Errorf("add match for JobRemoved: %w", err)
		}
	}
	err := c.manager().CallWithContext(ctx, managerIface+".Subscribe", 0).Err
	if err != nil && !isDBusError(err, errAlreadySubscribed) {
		return fmt.Errorf("subscribe to systemd's signals: %w", err)
	}
	c.subscribed = true
	return nil
}

// isDBusError reports whether err is a D-Bus error reply of that name.
func isDBusError(err error, name string) bool {
	return err != nil && dbusErrorName(err) == name
}

// dbusErrorName is the name of the D-Bus error reply in err, if any.
func dbusErrorName(err error) string {
	var v dbus.Error
	if errors.As(err, &v) {
		return v.Name
	}
	var p *dbus.Error
	if errors.As(err, &p) && p != nil {
		return p.Name
	}
	return ""
}

// errClosed is returned by waits cut short by the connection's end.
var errClosed = errors.New("connection to systemd closed")
