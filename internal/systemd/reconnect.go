package systemd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
)

// What systemd does to its clients, as the tests show on systemd 252:
//
//   - daemon-reexec closes every connection to the private socket; the
//     bus connection of a client stays, but systemd is off the bus for
//     the moment (calls fail with ServiceUnknown or NameHasNoOwner) and
//     comes back with its subscriptions. A connection attempt in that gap
//     may be refused or hung up on. The gap lasts tens of milliseconds on
//     an idle machine, longer on a loaded one with many units.
//   - daemon-reload keeps every connection and every unit's state; a
//     call made during it is answered after it.
//
// So a client that outlives one call dials again when its connection is
// lost (Follow), and a call that fails because systemd was away is worth
// another try on a new connection (Do, Unavailable).

// DialFunc makes a connection to systemd: Dial, or in tests DialPrivate or
// DialBus with an address.
type DialFunc func(ctx context.Context) (*Conn, error)

// Lost reports whether the connection has closed: systemd closed it (as
// daemon-reexec does) or Close was called. Every call on it fails from
// then on.
func (c *Conn) Lost() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// unavailableNames are the D-Bus errors a bus daemon answers with while
// systemd is off the bus (re-executing).
var unavailableNames = []string{
	"org.freedesktop.DBus.Error.ServiceUnknown",
	"org.freedesktop.DBus.Error.NameHasNoOwner",
	"org.freedesktop.DBus.Error.NoReply",
	"org.freedesktop.DBus.Error.Disconnected",
}

// Unavailable reports whether err says that systemd could not be reached
// for the moment, or that the connection was lost under a call, rather
// than anything about a unit: what daemon-reexec causes, and worth
// another try on a new connection. A socket that does not exist (no
// systemd on this machine) is not such an error.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errClosed) || errors.Is(err, dbus.ErrClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	name := dbusErrorName(err)
	for _, n := range unavailableNames {
		if name == n {
			return true
		}
	}
	return false
}

// Bounds of Do's tries: the pause between two grows from retryFirst to
// retryMax; retryTries bounds their number, and RetryWindow the time from
// the first failure, whatever ctx allows.
const (
	retryFirst = 20 * time.Millisecond
	retryMax   = 500 * time.Millisecond
	retryTries = 40
)

// RetryWindow is how long Do keeps trying after the first failure: a
// re-execution of systemd takes well under a second, even with many units.
const RetryWindow = 10 * time.Second

// Do runs f on a new connection from dial, and again on another one when
// dial or f failed because systemd was unavailable for the moment or the
// connection was lost under f (daemon-reexec), with growing pauses, until
// ctx ends, RetryWindow has passed since the first failure or retryTries
// tries have been made. f must be safe to run again: starting or stopping
// a unit and reading its state are. The connection is closed when f
// returns; f must not keep it. The last error is returned.
func Do(ctx context.Context, dial DialFunc, f func(*Conn) error) error {
	pause := retryFirst
	var err error
	var giveUp time.Time
	for try := 0; ; try++ {
		var c *Conn
		if c, err = dial(ctx); err == nil {
			err = f(c)
			lost := c.Lost()
			c.Close()
			if err == nil || (!lost && !Unavailable(err)) {
				return err
			}
		} else if !Unavailable(err) {
			return err
		}
		if try == 0 {
			giveUp = time.Now().Add(RetryWindow)
		}
		if try+1 >= retryTries || ctx.Err() != nil || time.Now().Add(pause).After(giveUp) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, retryMax)
	}
}

// DefaultGiveUp is how long Follow tries to get a connection and a watch
// back after losing them, unless told otherwise: far longer than any
// re-execution of systemd takes, and still short enough that a watcher
// left without systemd ends and says so.
const DefaultGiveUp = 30 * time.Second

// FollowOptions tune Follow.
type FollowOptions struct {
	// Dial makes each connection; nil means Dial.
	Dial DialFunc
	// GiveUp bounds how long Follow tries to connect and watch again
	// after it lost its connection; 0 means DefaultGiveUp.
	GiveUp time.Duration
	// Logf, if set, is told of each loss of the connection and of each
	// reconnection.
	Logf func(format string, args ...any)
}

// Follower is a Follow under way.
type Follower struct {
	states <-chan State
	err    error // set before states is closed
}

// States delivers the unit's states, as Watch does, across reconnections;
// it is closed when the context of Follow ends or Follow gives up.
func (f *Follower) States() <-chan State { return f.states }

// Err says why States was closed, once it is: nil when the context ended,
// the last error when Follow gave up reconnecting.
func (f *Follower) Err() error { return f.err }

// Follow is Watch that survives the loss of its connection. When systemd
// closes the connection (daemon-reexec does, for every client of its
// private socket), Follow dials again with growing pauses, for at most
// GiveUp, and watches anew. The first state read on the new connection is
// delivered whatever it is, so a unit that ended while nobody was
// watching is seen then. On the bus, where the connection survives a
// re-execution, Watch itself reads the state again until systemd answers.
// The first connection and watch are made before Follow returns, and
// their failure is its error.
func Follow(ctx context.Context, unit string, opt FollowOptions) (*Follower, error) {
	if err := CheckName(unit); err != nil {
		return nil, fmt.Errorf("follow unit: %w", err)
	}
	dial := opt.Dial
	if dial == nil {
		dial = Dial
	}
	giveUp := opt.GiveUp
	if giveUp <= 0 {
		giveUp = DefaultGiveUp
	}
	logf := opt.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	// watch connects and subscribes within dctx, and watches until ctx
	// ends.
	watch := func(dctx context.Context) (*Conn, <-chan State, error) {
		c, err := dial(dctx)
		if err != nil {
			return nil, nil, err
		}
		if err := c.subscribe(dctx); err != nil {
			c.Close()
			return nil, nil, err
		}
		states, err := c.Watch(ctx, unit)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		return c, states, nil
	}
	c, states, err := watch(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan State)
	f := &Follower{states: out}
	go func() {
		defer close(out)
		for {
			for st := range states {
				select {
				case out <- st:
				case <-ctx.Done():
					c.Close()
					return
				}
			}
			c.Close()
			if ctx.Err() != nil {
				return
			}
			lost := time.Now()
			logf("lost the connection to systemd while watching %s; connecting again", unit)
			c, states, f.err = reconnect(ctx, watch, giveUp)
			if f.err != nil {
				f.err = fmt.Errorf("watch unit %s: no connection to systemd for %v: %w", unit, giveUp, f.err)
				return
			}
			logf("connected to systemd again after %v; watching %s", time.Since(lost).Round(time.Millisecond), unit)
		}
	}()
	return f, nil
}

// reconnect calls watch, with growing pauses, until it succeeds, ctx ends
// or giveUp has passed. Each call's connection is made within that time;
// the watch it starts lasts until the caller's ctx ends.
func reconnect(ctx context.Context, watch func(context.Context) (*Conn, <-chan State, error), giveUp time.Duration) (*Conn, <-chan State, error) {
	ctx, cancel := context.WithTimeout(ctx, giveUp)
	defer cancel()
	pause := retryFirst
	var err error
	// The pauses alone bound the tries: giveUp/retryFirst is more than
	// enough.
	for range max(int(giveUp/retryFirst), 1) {
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return nil, nil, err
		case <-time.After(pause):
		}
		pause = min(2*pause, retryMax)
		c, states, werr := watch(ctx)
		if werr == nil {
			return c, states, nil
		}
		err = werr
	}
	return nil, nil, err
}
