package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/test/vnfm"
)

// TestMain lets the test binary be the command: the tests run it as a
// process (VNFM_AS_MAIN=1), over real TCP on 127.0.0.1.
func TestMain(m *testing.M) {
	if os.Getenv("VNFM_AS_MAIN") == "1" {
		if err := run(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "vnfm:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const event = `{"specversion":"1.0","id":"ev-7","source":"/vnfha/clusters/lab","type":"io.vnfha.vnfc.lost"}`

type proc struct {
	cmd  *exec.Cmd
	base string
	done chan error
}

// start runs the command with args and waits (bounded) for it to listen.
func start(t *testing.T, scheme string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "VNFM_AS_MAIN=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
		}
		io.Copy(io.Discard, out)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case a := <-addr:
		p.base = scheme + "://" + a
	case err := <-p.done:
		p.done <- err
		t.Fatalf("vnfm exited before listening: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("vnfm did not listen within 20s")
	}
	return p
}

// stop sends SIGTERM and requires a clean exit, bounded.
func (p *proc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("vnfm exited with %v after SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		t.Error("vnfm did not stop within 10s of SIGTERM")
		<-p.done
	}
}

func client(tc *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// flow runs what the bridge does: a token, a Heal, the operation followed
// to COMPLETED, a signed webhook; then reads the record over /control.
func flow(t *testing.T, c *http.Client, base string, whsec []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("bridge", url.QueryEscape("the secret"))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st := call(t, c, req, &tok); st != 200 || tok.AccessToken == "" {
		t.Fatalf("token: %d", st)
	}
	req, _ = http.NewRequest("POST", base+"/vnflcm/v2/vnf_instances/vnf1/heal", strings.NewReader(`{"cause":"lost","vnfcInstanceId":["VDU1-b"]}`))
	req.Header.Set("Version", "2.0.0")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 202 || !strings.HasPrefix(loc, "https://vnfm.example:9890/vnflcm/v2/vnf_lcm_op_occs/") {
		t.Fatalf("heal: %d Location %q", resp.StatusCode, loc)
	}
	// The bridge resolves the occurrence against its own base URL.
	occURL := base + "/vnflcm/v2/vnf_lcm_op_occs/" + loc[strings.LastIndex(loc, "/")+1:]
	var occ vnfm.OpOcc
	for i := 0; i < 2; i++ {
		req, _ = http.NewRequest("GET", occURL, nil)
		req.Header.Set("Version", "2.0.0")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		if st := call(t, c, req, &occ); st != 200 {
			t.Fatalf("GET occurrence: %d", st)
		}
	}
	if occ.OperationState != vnfm.Completed {
		t.Fatalf("after 2 polls: %s", occ.OperationState)
	}
	now := time.Now()
	sig, err := vnfm.SignWebhook(whsec, "ev-7", now, []byte(event))
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("POST", base+"/webhook", strings.NewReader(event))
	req.Header.Set("Content-Type", vnfm.CloudEventsJSON)
	req.Header.Set("webhook-id", "ev-7")
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	if st := call(t, c, req, nil); st != 204 {
		t.Fatalf("webhook: %d", st)
	}
}

func call(t *testing.T, c *http.Client, req *http.Request, v any) int {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
	}
	return resp.StatusCode
}

func received(t *testing.T, c *http.Client, base string) vnfm.Received {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/control/received", nil)
	var r vnfm.Received
	if st := call(t, c, req, &r); st != 200 {
		t.Fatalf("received: %d", st)
	}
	return r
}

// TestProcess runs the command over TLS and over mutual TLS, with a test
// CA, and restarts it on the same state dir.
func TestProcess(t *testing.T) {
	dir := t.TempDir()
	pki, err := vnfm.NewPKI(dir, "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	whsec := []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	common := []string{
		"-tls-cert", pki.ServerCert, "-tls-key", pki.ServerKey,
		"-client-id", "bridge", "-client-secret-file", write(t, dir, "secret", "the secret\n"),
		"-webhook-secret-file", write(t, dir, "whsec", string(whsec)+"\n"),
		"-instance", "vnf1=VDU1-a,VDU1-b", "-polls", "2",
		"-endpoint", "https://vnfm.example:9890",
		"-state-dir", filepath.Join(dir, "state"),
	}
	trusting, _ := pki.ClientTLS(false)
	withCert, _ := pki.ClientTLS(true)

	t.Run("TLS", func(t *testing.T) {
		p := start(t, "https", common...)
		flow(t, client(trusting), p.base, whsec)
		// A client that does not trust the test CA refuses the server.
		_, err := client(&tls.Config{}).Get(p.base + "/control/received")
		var unknown x509.UnknownAuthorityError
		if err == nil || !errors.As(err, &unknown) {
			t.Fatalf("a client without the CA: %v", err)
		}
		// Plain HTTP to the TLS port gets nothing useful.
		if resp, err := client(nil).Get("http" + strings.TrimPrefix(p.base, "https") + "/control/received"); err == nil {
			resp.Body.Close()
			if resp.StatusCode != 400 {
				t.Fatalf("plain HTTP to the TLS port: %d", resp.StatusCode)
			}
		}
		r := received(t, client(trusting), p.base)
		if r.Events["ev-7"] != 1 || len(r.Records) != 5 {
			t.Fatalf("received %+v", r)
		}
	})
	t.Run("mTLS", func(t *testing.T) {
		p := start(t, "https", append(common, "-client-ca", pki.CAFile)...)
		if resp, err := client(trusting).Get(p.base + "/control/received"); err == nil {
			resp.Body.Close()
			t.Fatal("a client without a certificate was served")
		}
		flow(t, client(withCert), p.base, whsec)
		// The state dir kept the first run's record.
		r := received(t, client(withCert), p.base)
		if r.Events["ev-7"] != 2 || len(r.Records) != 10 {
			t.Fatalf("received %d records, events %v", len(r.Records), r.Events)
		}
	})
	t.Run("bad flags", func(t *testing.T) {
		for _, args := range [][]string{
			{"-tls-cert", pki.ServerCert},
			{"-client-ca", pki.CAFile},
			{"-instance", "novnfcs"},
			{"-final", "DONE"},
			{"-client-cert-subject", "vnfha-bridge"},
			{"-webhook-path", "/token"},
			{"-webhook-path", "/a", "-webhook-path", "/a"},
			{"-webhook-secret-file", write(t, dir, "bad", "whsec_!!")},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-listen", "127.0.0.1:0"}, args...)...)
			cmd.Env = append(os.Environ(), "VNFM_AS_MAIN=1")
			out, err := cmd.CombinedOutput()
			cancel()
			if err == nil || !strings.Contains(string(out), "vnfm:") {
				t.Errorf("%v: %v %s", args, err, out)
			}
		}
	})
}
