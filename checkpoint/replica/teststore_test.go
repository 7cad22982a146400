package replica

import (
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/checkpoint/store"
)

// testStore is a store a test can close and open again from its
// directory, as a restarted process would.
type testStore interface {
	Store
	Close() error
}

// testRetain, when set, makes the stores keep only that many entries
// (to force catch-up from a snapshot).
var testRetain int

func openTestStore(t testing.TB, dir string) testStore {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	st, err := store.Open(dir, store.Options{SegmentSize: 1 << 20, RetainEntries: testRetain, Logger: log})
	if err != nil {
		t.Fatalf("open store %s: %v", dir, err)
	}
	return st
}
