package webhook

import (
	"context"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/test/vnfm"
)

// TestTestVNFMReceiver delivers to the test VNFM's webhook receiver (the
// one the end-to-end tests read), over mutual TLS with its PKI: it checks
// the signature with the reference library against its own clock, parses
// the CloudEvent with the CloudEvents SDK and matches webhook-id to the
// CloudEvent's id. Its switches give the answer classes from the other
// side: 503 with Retry-After, a dropped connection, a wrong key.
func TestTestVNFMReceiver(t *testing.T) {
	p := newPKI(t)
	conf, err := p.ServerTLS(true)
	if err != nil {
		t.Fatal(err)
	}
	srv, ts := vnfm.Start(t, vnfm.Options{WebhookSecret: []byte(secretA)}, conf)
	url := ts.URL + vnfm.DefaultWebhookPath
	mtls := func(c *Config) { c.CertFile, c.KeyFile = p.ClientCert, p.ClientKey }
	s := newSink(t, url, p, mtls)
	s.now = time.Now // the receiver checks the timestamp against its clock

	steps := []struct {
		name  string
		fault *vnfm.Fault
		sink  *Sink
		class delivery.Class
		after time.Duration
	}{
		{"503 with Retry-After", &vnfm.Fault{Endpoint: vnfm.EndpointWebhook, Status: 503, RetryAfter: 2, Times: 1}, s, delivery.Transient, 2 * time.Second},
		{"connection dropped", &vnfm.Fault{Endpoint: vnfm.EndpointWebhook, Drop: true, Times: 1}, s, delivery.Transient, 0},
		{"wrong key", nil, newSink(t, url, p, func(c *Config) {
			mtls(c)
			c.SecretFile = writeFile(t, "other", secretB)
		}), delivery.IsFinal, 0},
		{"delivered", nil, s, delivery.Delivered, 0},
		{"delivered again", nil, s, delivery.Delivered, 0},
	}
	for _, st := range steps {
		if st.fault != nil {
			if err := srv.AddFault(*st.fault); err != nil {
				t.Fatal(err)
			}
		}
		st.sink.now = time.Now
		err := st.sink.Deliver(context.Background(), testEvent())
		if c, after := delivery.Classify(err); c != st.class || after != st.after {
			t.Errorf("%s: Classify = %v, %v; want %v, %v (%v)", st.name, c, after, st.class, st.after, err)
		}
		assertNoSecret(t, err)
	}
	// Two deliveries of one event, accepted under one id: a receiver
	// drops the repeat by it.
	if got := srv.Events(); len(got) != 1 || got[testEvent().ID] != 2 {
		t.Errorf("accepted webhooks by id: %v, want %s twice", got, testEvent().ID)
	}
}
