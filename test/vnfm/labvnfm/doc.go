// Package labvnfm runs the test VNFM (test/vnfm/cmd/vnfm) as a process on
// a lab host, over TLS with a test CA, for the tests and benchmarks that
// drive the bridge's sinks in a lab (TestBridgeEvents in test/e2e,
// BenchmarkBridgeEvents in test/bench): the secrets the bridge and the
// VNFM share, the bridge config's sink keys pointing at it, and what it
// recorded (webhook deliveries, Heals), read through its /control/ API.
// It also reads the CIB's failure record that a vnfc.failed event's id
// is made of, so that a caller knows which id to wait for.
package labvnfm
