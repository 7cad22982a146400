// Package haproxy drives one HAProxy 2.6 through its runtime API (the stats
// socket, level admin): a Client for the commands, parsers for what HAProxy
// answers (`show servers state`, `show stat`, `show info`, command replies
// as typed errors), and a Pool that reconciles the managed servers of some
// backends with a desired state. It knows backends and servers, not
// Pacemaker resources: the bridge core maps one to the other.
//
// # Dynamic servers, not server-template slots
//
// The Pool adds and deletes dynamic servers (`add server` / `del server`),
// each named from its instance (ServerName(prefix, resource, node)). The
// name carries the identity, so every reconcile is a plain diff by name and
// idempotent; nothing maps slots to instances. Slots (server-template) would
// survive a reload, but their count is fixed in the configuration, their
// names say nothing about who fills them, and a server-state file can
// resurrect a stale address into a slot after a reload (research
// lb-events.md A.4 points 9-10). The price of dynamic servers is that a
// reload or restart drops them all; Reconcile notices (a new worker Pid, a
// shrinking uptime, or every managed server gone) and the same diff adds
// them back within one resync.
//
// The 2.6 pitfalls, and how they are handled:
//   - never the `enabled` keyword (haproxy/haproxy#2497): Extra refuses it;
//   - IP literals only: Server.Addr is a netip.Addr; IPv6 is written
//     [addr]:port, which 2.6 accepts;
//   - default-server is not inherited: inter, rise, fall and weight are
//     always passed;
//   - a new server starts in maint with its checks off, and on
//     `enable server` it takes traffic before its first check: a server
//     enters rotation with `enable health; state drain; health down;
//     state ready` on one line, so it is DOWN until `rise` checks pass and
//     never unchecked in the LB, even for a moment (TestEnterRotationNoTraffic);
//   - `del server` only from maint and without sessions: a removal drains,
//     goes to maint, deletes, and on "still has connections" shuts the
//     sessions and retries at the next pass (2.6 has no `wait`).
//
// # One connection per command line
//
// The stats socket runs one line and closes, so a reply ends at EOF; the
// blank-line terminator is missing after some replies and cannot frame
// them. Several commands joined with ";" run on one line, but their
// replies are only concatenated, with no boundary that survives every
// error text, so they cannot be split back per command. The Client
// therefore sends one line per connection, and the Pool joins with ";"
// only commands for one server whose replies are judged together: the
// first error text is the line's error. Reads (`show ...`) each get their
// own connection. Measured on a unix socket (BenchmarkExecSeparate vs
// BenchmarkExecBatched, 2 cores): the four enter-rotation commands take
// about 310 us on four connections and 85 us on one line, so the batch is
// worth it for writes; a steady-state Reconcile of a 100-server backend
// (three reads, no write) takes about 1.2 ms (BenchmarkReconcile100).
// Every intermediate state of the sequences is safe on its own (drain and
// health down both keep new traffic off), so a bridge that dies between
// two lines leaves nothing the next pass cannot finish.
//
// # Reading many backends
//
// Reading each desired backend on its own costs two round trips per
// backend: 500 for 250 backends, most of a 115 ms steady Reconcile of
// 5,000 servers (test/bench BenchmarkBridgeReconcile5000). The Pool
// therefore reads many backends with two commands in all, `show servers
// state` and `show stat -1 6 -1`, every backend's servers plus one BACKEND
// row per backend (its id, which tells an empty backend from a missing
// one), matched by proxy id and name: about 45 ms. What those replies
// cost is their servers, managed or not (HAProxy's stat dump is about 5 us a
// server, a round trip about 120 us), so on an HAProxy whose other
// backends hold many servers, and always for one backend, each backend is
// read on its own (useBatched, BenchmarkReadBackends).
package haproxy
