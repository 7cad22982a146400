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
)

// maxSlow bounds GET /slow/{d}, so that a typo cannot hold a stop for long.
const maxSlow = 30 * time.Second

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	shutdownTimeout := flag.Duration("shutdown-timeout", 10*time.Second,
		"on SIGTERM, how long requests in flight may take to finish")
	flag.Parse()
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
	if err := serve(ctx, ln, handler(node), *shutdownTimeout); err != nil {
		log.Fatal(err)
	}
	log.Printf("%s stopped", node)
}

// handler serves vnfcd's API for a node.
func handler(node string) http.Handler {
	var (
		mu   sync.Mutex
		role = "unpromoted"
	)
	answer := func(w http.ResponseWriter) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s %s\n", node, role)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { answer(w) })
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
		role = strings.ToLower(r.PathValue("role"))
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
