package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

// store is what vnfcd needs of the checkpoint store's client.
type store interface {
	Get(ctx context.Context, key string) (checkpoint.Item, uint64, error)
	Put(ctx context.Context, key string, value []byte, cond checkpoint.Cond) (uint64, error)
}

// stateKey holds the count, in decimal.
const stateKey = "requests"

// stateTimeout bounds one request's wait for the store: during a
// failover the request fails (503) rather than hang the client.
const stateTimeout = 2 * time.Second

// counter is the promoted instance's request count and the revision of
// its last save. Its caller serialises the calls.
type counter struct {
	st  store
	n   uint64
	rev uint64
}

// next saves n+1 and returns its revision; n moves only once the store
// acknowledged it.
func (c *counter) next(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	rev, err := c.st.Put(ctx, stateKey, []byte(strconv.FormatUint(c.n+1, 10)), checkpoint.Cond{})
	if err != nil {
		return 0, fmt.Errorf("saving the state: %w", err)
	}
	c.n, c.rev = c.n+1, rev
	return rev, nil
}

// restore reads the count the last primary saved (none yet: 0).
func (c *counter) restore(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	it, _, err := c.st.Get(ctx, stateKey)
	if errors.Is(err, checkpoint.ErrNotFound) {
		c.n, c.rev = 0, 0
		return nil
	}
	if err != nil {
		return fmt.Errorf("restoring the state: %w", err)
	}
	n, err := strconv.ParseUint(string(it.Value), 10, 64)
	if err != nil {
		return fmt.Errorf("restoring the state: %s holds %.20q, not a count", stateKey, it.Value)
	}
	c.n, c.rev = n, it.Rev
	return nil
}
