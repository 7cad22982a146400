// Package e2e holds vnfha's end-to-end tests. Each runs against a real
// Pacemaker/Corosync cluster built by the lab from the code under test;
// nothing in them mocks Pacemaker, corosync or HAProxy. They need root and
// the Debian packages that `make deps` installs; with CI=true a missing
// dependency fails the run instead of skipping it.
package e2e
