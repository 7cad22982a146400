// Package outbound holds what the bridge's sinks share to reach a peer
// outside the cluster over HTTP (the VNFM, its token endpoint, webhook
// receivers): the TLS client settings read from the config's files, an
// http.Client that goes only where the config says, a bounded read of an
// answer, the Retry-After header, and the one classification of a failed
// request (a trust failure no retry cures, a network failure, the caller's
// context). It knows nothing of events, signatures or ETSI: each sink keeps
// its own rules for answers.
package outbound
