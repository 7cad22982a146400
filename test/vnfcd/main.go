// Command vnfcd is the VNFC the end-to-end tests and benchmarks run under
// ocf:vnfha:vnfc and ocf:heartbeat:anything: a tiny HTTP service that says
// which node answered and in which role, so that a client can see a
// failover happen.
//
//	GET  /             "<node> <role>\n"
//	GET  /health       200 "ok"
//	POST /role/<role>  the promote and demote hooks; sets the role
//
// The node is the host name, which in a lab node's UTS namespace is the
// node name. It serves on every address, so it answers on a virtual IP the
// moment the address arrives.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	flag.Parse()
	node, err := os.Hostname()
	if err != nil {
		log.Fatal(err)
	}
	var (
		mu   sync.Mutex
		role = "unpromoted"
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s %s\n", node, role)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("POST /role/{role}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		role = strings.ToLower(r.PathValue("role"))
		log.Printf("role: %s", role)
	})
	log.Printf("%s serving on %s", node, *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
