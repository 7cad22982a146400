// Command vnfcd is the VNFC the end-to-end tests and benchmarks run under
// ocf:vnfha:vnfc and ocf:heartbeat:anything: a tiny HTTP service that says
// which node answered and in which role, so that a client can see a
// failover happen.
//
//	GET  /             "<node> <role>\n"
//	GET  /slow/{d}     the same, after d (a Go duration, at most 30s): a
//	                   request that holds a session, as a long transfer does
//	GET  /health       200 "ok"
//	POST /role/<role>  the promote and demote hooks; sets the role
//
// With --state (a checkpoint store's endpoint, such as
// unix:/run/vnfha/checkpoint/state.sock) it keeps a state, as set-up A of
// docs/operations.md asks of a VNFC: the promoted instance counts the
// requests it answers on GET /, saves the count in the store before it
// answers ("<node> promoted rev=<revision>"), and a newly promoted one
// restores the count first, logging the revision it restored. A client
// then sees that no acknowledged request was lost across a failover.
//
// The node is the host name, which in a lab node's UTS namespace is the
// node name. It serves on every address, so it answers on a virtual IP the
// moment the address arrives.
//
// On SIGTERM (how Pacemaker's stop asks a VNFC to go) it shuts down
// gracefully, as a real VNF does: it stops accepting connections, lets the
// requests in flight finish (at most --shutdown-timeout), and exits 0. A
// VNFC that dropped its requests on a planned stop would make every
// load-balancer drain look broken; SIGKILL still kills it at once, which
// is what the failure tests use.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vnfha/vnfha/checkpoint/client"
)

// maxSlow bounds GET /slow/{d}, so that a typo cannot hold a stop for long.
const maxSlow = 30 * time.Second

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	shutdownTimeout := flag.Duration("shutdown-timeout", 10*time.Second,
		"on SIGTERM, how long requests in flight may take to finish")
	stateEP := flag.String("state", "", "a checkpoint store's endpoint (unix:/path or http://host:port): keep the request count there")
	flag.Parse()
	// Microseconds: the demo reads a failover's timeline from this log.
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	var st store
	if *stateEP != "" {
		c, err := client.New(*stateEP)
		if err != nil {
			log.Fatal(err)
		}
		// A request waits for the store at most stateTimeout (below): a
		// few quick attempts, not the client's half minute of retries.
		c.MaxAttempts = 3
		st = c
	}
	node, err := os.Hostname()
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Printf("%s serving on %s", node, *listen)
	if err := serve(ctx, ln, handler(node, st), *shutdownTimeout); err != nil {
		log.Fatal(err)
	}
	log.Printf("%s stopped", node)
}

// handler serves vnfcd's API for a node; st, if not nil, keeps the
// promoted instance's request count.
func handler(node string, st store) http.Handler {
	var (
		mu   sync.Mutex
		role = "unpromoted"
		cnt  = &counter{st: st}
	)
	answer := func(w http.ResponseWriter) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s %s\n", node, role)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if st == nil || role != "promoted" {
			fmt.Fprintf(w, "%s %s\n", node, role)
			return
		}
		rev, err := cnt.next(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%s %s rev=%d\n", node, role, rev)
	})
	mux.HandleFunc("GET /slow/{d}", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.PathValue("d"))
		if err != nil || d < 0 || d > maxSlow {
			http.Error(w, fmt.Sprintf("want a duration of 0 to %s", maxSlow), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
			answer(w)
		case <-r.Context().Done(): // the client left
		}
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("POST /role/{role}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		newRole := strings.ToLower(r.PathValue("role"))
		if st != nil && newRole == "promoted" && role != "promoted" {
			// The state first: a promoted instance that answered
			// from a count it has not restored would go backwards.
			if err := cnt.restore(r.Context()); err != nil {
				log.Printf("role: promoted refused: %v", err)
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			log.Printf("restored requests=%d from the checkpoint store at revision %d", cnt.n, cnt.rev)
		}
		role = newRole
		log.Printf("role: %s", role)
	})
	return mux
}

// serve serves h on ln until ctx ends, then shuts down gracefully: ln is
// closed at once (a load balancer's new connections are refused, which
// it retries elsewhere), idle connections are closed, and the requests in
// flight get up to timeout to finish.
func serve(ctx context.Context, ln net.Listener, h http.Handler, timeout time.Duration) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: requests still in flight after %s: %w", timeout, err)
	}
	return nil
}
