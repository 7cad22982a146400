// Command vnfm runs the test VNFM (package test/vnfm) as a process, as
// the end-to-end tests run it on a lab host: Tacker's Heal, LCM occurrence
// and OAuth 2.0 token endpoints, webhook receivers, and the /control/ API
// through which a test switches faults on and reads what it received.
//
//	vnfm -listen 198.18.0.10:9890 -tls-cert server.pem -tls-key server-key.pem \
//	     -client-ca ca.pem -client-id bridge -client-secret-file secret \
//	     -webhook-secret-file whsec -instance vnf1=VDU1-a,VDU1-b -state-dir /var/lib/vnfm
//
// Secrets are read from files, never from flags (a flag shows in ps). It
// prints "listening on ADDR" once it serves, and stops on SIGTERM or
// SIGINT, releasing the requests a switch holds.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vnfha/vnfha/test/vnfm"
)

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		log.Fatalf("vnfm: %v", err)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("vnfm", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9890", "address to serve on (Tacker's port by default)")
	certFile := fs.String("tls-cert", "", "server certificate (PEM); with -tls-key, serve HTTPS")
	keyFile := fs.String("tls-key", "", "server key (PEM)")
	clientCA := fs.String("client-ca", "", "CA (PEM) a client certificate must chain to: mutual TLS required")
	clientID := fs.String("client-id", "", "the OAuth 2.0 client id the token endpoint accepts")
	secretFile := fs.String("client-secret-file", "", "file holding that client's secret")
	ttl := fs.Duration("token-ttl", vnfm.DefaultTokenTTL, "lifetime of an issued token")
	whFile := fs.String("webhook-secret-file", "", "file holding the webhook HMAC secret (raw, or whsec_<base64>)")
	endpoint := fs.String("endpoint", "", "base URL of the Location header (Tacker's CONF.v2_vnfm.endpoint); empty: the request's")
	stateDir := fs.String("state-dir", "", "directory keeping the record of what was received across restarts; empty: memory only")
	polls := fs.Int("polls", 0, "an operation is final at this GET of it (0: see -after)")
	after := fs.Duration("after", 0, "an operation is final this long after it started")
	final := fs.String("final", vnfm.Completed, "an operation's final state: COMPLETED, FAILED_TEMP, FAILED or ROLLED_BACK")
	certSubject := fs.String("client-cert-subject", "", "CommonName of the client certificate that authenticates -client-id without a secret (RFC 8705; needs -client-ca)")
	concurrent := fs.Bool("accept-concurrent", false, "accept a Heal while the instance's operation runs (Tacker without the heal lock)")
	var hooks, instances, scopes listFlag
	fs.Var(&scopes, "scope", "a scope a token request may ask for (repeatable; none: any)")
	fs.Var(&hooks, "webhook-path", "a webhook receiver's path (repeatable; default "+vnfm.DefaultWebhookPath+")")
	fs.Var(&instances, "instance", "a VNF instance and its vnfcInfo ids: ID=VNFC,VNFC,... (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := vnfm.Options{
		ClientID: *clientID, ClientCertSubject: *certSubject, Scopes: scopes, TokenTTL: *ttl, Endpoint: *endpoint, WebhookPaths: hooks,
		Progression:      vnfm.Progression{Polls: *polls, After: *after, Final: *final},
		AcceptConcurrent: *concurrent,
		Instances:        map[string]vnfm.Instance{},
	}
	if !vnfm.ValidFinal(*final) {
		return fmt.Errorf("-final %q is not COMPLETED, FAILED_TEMP, FAILED or ROLLED_BACK", *final)
	}
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return fmt.Errorf("read the client secret: %w", err)
		}
		o.ClientSecret = strings.TrimSpace(string(b))
	}
	if *whFile != "" {
		b, err := os.ReadFile(*whFile)
		if err != nil {
			return fmt.Errorf("read the webhook secret: %w", err)
		}
		if _, err := vnfm.WebhookKey(b); err != nil {
			return err
		}
		o.WebhookSecret = b
	}
	seen := map[string]bool{}
	for _, p := range hooks {
		if err := vnfm.CheckWebhookPath(p); err != nil {
			return err
		}
		if seen[p] {
			return fmt.Errorf("-webhook-path %s given twice", p)
		}
		seen[p] = true
	}
	for _, spec := range instances {
		id, vnfcs, ok := strings.Cut(spec, "=")
		if !ok || id == "" {
			return fmt.Errorf("-instance %q is not ID=VNFC,VNFC,...", spec)
		}
		in := vnfm.Instance{}
		if vnfcs != "" {
			in.VNFCs = strings.Split(vnfcs, ",")
		}
		o.Instances[id] = in
	}
	var tlsConf *tls.Config
	if *certSubject != "" && *clientCA == "" {
		return errors.New("-client-cert-subject needs -client-ca: an unverified certificate authenticates nobody")
	}
	if (*certFile == "") != (*keyFile == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("load the server certificate: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if *clientCA != "" {
			pem, err := os.ReadFile(*clientCA)
			if err != nil {
				return fmt.Errorf("read the client CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%s holds no PEM certificate", *clientCA)
			}
			tlsConf.ClientCAs = pool
			tlsConf.ClientAuth = tls.RequireAndVerifyClientCert
		}
	} else if *clientCA != "" {
		return errors.New("-client-ca needs -tls-cert and -tls-key")
	}

	s := vnfm.New(o)
	defer s.Close()
	if *stateDir != "" {
		if err := os.MkdirAll(*stateDir, 0o700); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		if err := s.OpenState(filepath.Join(*stateDir, "received.jsonl")); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// A TLS handshake failure (a client that does not trust us, or
		// has no certificate) is what a test provokes: say it once, briefly.
		ErrorLog: log.New(os.Stderr, "vnfm: ", 0),
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("listening on %s\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Close() // release held requests before the shutdown waits for them
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	return nil
}
