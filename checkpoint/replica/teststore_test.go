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

func openTestStore(t testing.TB, dir string) testStore {
	t.Helper()
	v, _ := memStores.LoadOrStore(dir, newMemStore())
	return v.(*memStore)
}
