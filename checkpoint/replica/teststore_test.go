//go:build !realstore

package replica

import (
	"sync"
	"testing"
)

// testStore is a store a test can close and open again from its
// directory, as a restarted process would.
type testStore interface {
	Store
	Close() error
}

var memStores sync.Map // dir → *memStore: what "survives" a crash

// testRetain, when set, makes the stores keep only that many entries.
var testRetain int

func openTestStore(t testing.TB, dir string) testStore {
	t.Helper()
	m := newMemStore()
	m.retain = testRetain
	v, _ := memStores.LoadOrStore(dir, m)
	return v.(*memStore)
}
