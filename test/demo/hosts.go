package demo

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/vnfha/vnfha/bridge"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/test/haproxytest"
	"github.com/vnfha/vnfha/test/vnfm"
)

// hosts starts HAProxy on lb1 and lb2 (an empty backend the bridge
// fills, their own log on) and the test VNFM on vnfm, which knows set-up
// B's VNF and VNFCs by the ids of docs/operations.md's bridge.yaml.
func (r *run) hosts(ctx context.Context) error {
	// The bridge's config first: the VNFM must know what it names.
	yml := Localize(r.blocks["bridge.yaml"].Text, r.subs, r.prefix)
	cfg, err := bridge.ParseConfig([]byte(yml))
	if err != nil {
		return fmt.Errorf("docs/operations.md's bridge.yaml: %w", err)
	}
	if cfg.VNFM == nil || len(cfg.Services) != 1 || cfg.Services[0].VNFInstanceID == "" {
		return fmt.Errorf("docs/operations.md's bridge.yaml: want one service with its VNF's ids, and a vnfm section")
	}
	r.cfg = cfg
	for _, lb := range []string{lb1, lb2} {
		if err := r.startHAProxy(ctx, lb); err != nil {
			return err
		}
	}
	return r.startVNFM(ctx)
}

func (r *run) startHAProxy(ctx context.Context, host string) error {
	addr, err := r.l.HostAddr(host)
	if err != nil {
		return err
	}
	c, err := haproxytest.LB(addr, haproxytest.LBOptions{Log: true})
	if err != nil {
		return err
	}
	dir := filepath.Join(r.dir, host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "haproxy.cfg"), []byte(c.Text), 0o644); err != nil {
		return err
	}
	// The configuration's unix socket is relative: HAProxy runs in dir.
	if _, err := r.l.Spawn(host, filepath.Join(dir, "haproxy.log"), "sh", "-c", "cd "+dir+" && exec haproxy -W -f haproxy.cfg"); err != nil {
		return err
	}
	r.lbs[host] = c
	r.p.say("HAProxy on %s: clients to %s, runtime API on %s, log in %s", host, c.Frontend, c.AdminTCP, filepath.Join(dir, "haproxy.log"))
	return r.p.waitFor(ctx, "HAProxy on "+host+" answers", 15*time.Second, 100*time.Millisecond, func() (bool, string) {
		_, err := r.admin(ctx, host, "show info")
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// admin sends one command to a HAProxy's runtime API, from the client.
func (r *run) admin(ctx context.Context, host, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := r.l.Dial(ctx, lab.ClientName, "tcp", r.lbs[host].AdminTCP.String())
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return haproxytest.Exchange(ctx, conn, cmd)
}

// startVNFM writes set-up B's secrets and the VNFM's PKI where
// bridge.yaml names them, and runs the test VNFM.
func (r *run) startVNFM(ctx context.Context) error {
	addr, err := r.l.HostAddr(vnfmHost)
	if err != nil {
		return err
	}
	dir := filepath.Join(r.dir, "vnfm")
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
		return err
	}
	pki, err := vnfm.NewPKI(dir, addr.String())
	if err != nil {
		return err
	}
	vm, hook := r.cfg.VNFM, r.cfg.Webhooks
	if len(hook) != 1 {
		return fmt.Errorf("docs/operations.md's bridge.yaml: want one webhook, found %d", len(hook))
	}
	whKey, secret := make([]byte, 32), make([]byte, 24)
	if _, err := rand.Read(whKey); err != nil {
		return err
	}
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	ca, err := os.ReadFile(pki.CAFile)
	if err != nil {
		return err
	}
	for path, text := range map[string]string{
		hook[0].SecretFile:  "whsec_" + base64.StdEncoding.EncodeToString(whKey) + "\n",
		vm.ClientSecretFile: hex.EncodeToString(secret) + "\n",
		vm.TLS.CAFile:       string(ca),
		hook[0].TLS.CAFile:  string(ca),
	} {
		if !strings.HasPrefix(path, r.etc+"/") {
			return fmt.Errorf("bridge.yaml names %s, outside /etc/vnfha", path)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return err
		}
	}
	svc := r.cfg.Services[0]
	var ids []string
	for _, n := range r.l.Nodes() {
		ids = append(ids, svc.VNFCInstanceIDs[n])
	}
	listen := netip.AddrPortFrom(addr, vnfmPort)
	argv := []string{r.o.VNFM, "-listen", listen.String(), "-tls-cert", pki.ServerCert, "-tls-key", pki.ServerKey,
		"-client-id", vm.ClientID, "-client-secret-file", vm.ClientSecretFile, "-webhook-secret-file", hook[0].SecretFile,
		"-instance", svc.VNFInstanceID + "=" + strings.Join(ids, ","), "-state-dir", filepath.Join(dir, "state")}
	if _, err := r.l.Spawn(vnfmHost, filepath.Join(dir, "vnfm.log"), argv...); err != nil {
		return err
	}
	r.p.say("the test VNFM on %s: SOL003 Heal, OAuth 2.0 tokens and the webhook receiver, over TLS; what it receives in %s",
		listen, filepath.Join(dir, "state", "received.jsonl"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			return r.l.Dial(ctx, lab.ClientName, network, a)
		}}}
	return r.p.waitFor(ctx, "the test VNFM answers", 15*time.Second, 100*time.Millisecond, func() (bool, string) {
		resp, err := hc.Get("https://" + listen.String() + "/control/tokens")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// setupA runs set-up A's block and waits until the three are promoted
// and started on one node, and the VNFC answers on the VIP.
func (r *run) setupA(ctx context.Context) error {
	if err := r.runBlock(ctx, "setup-a"); err != nil {
		return err
	}
	return r.waitA(ctx, "", 90*time.Second)
}

// waitA waits until set-up A runs on a node other than not: the store
// and the VNFC promoted there, the VIP started there, and the VNFC
// answers the client on the VIP as the promoted one.
func (r *run) waitA(ctx context.Context, not string, timeout time.Duration) error {
	vip := r.vip()
	return r.p.waitFor(ctx, "set-up A is promoted on one node and answers on its VIP "+vip.String(), timeout, 250*time.Millisecond, func() (bool, string) {
		st, err := r.status(ctx, not)
		if err != nil {
			return false, err.Error()
		}
		state, app, v := promotedOn(st.Roles("state")), promotedOn(st.Roles("app")), st.Roles("app-vip")
		if state == "" || app != state || v[app] == "" || app == not {
			return false, fmt.Sprintf("state promoted on %q, app on %q, app-vip on %v", state, app, v)
		}
		body, err := r.get(ctx, "http://"+netip.AddrPortFrom(vip, appPort).String()+"/")
		if err != nil {
			return false, err.Error()
		}
		f := strings.Fields(body)
		return len(f) >= 2 && f[0] == app && f[1] == "promoted", "the VIP answers " + body
	})
}

var vipParam = regexp.MustCompile(`ocf:vnfha:vip\b.*?\bip=(\S+)`)

// vip is set-up A's virtual IP, as its block gives it.
func (r *run) vip() netip.Addr {
	for _, c := range r.blocks["setup-a"].Commands() {
		if m := vipParam.FindStringSubmatch(Localize(c, r.subs, r.prefix)); m != nil {
			if a, err := netip.ParseAddr(m[1]); err == nil {
				return a
			}
		}
	}
	return netip.Addr{}
}
