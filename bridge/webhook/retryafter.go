package webhook

import "github.com/vnfha/vnfha/bridge/internal/outbound"

// MaxRetryAfter bounds the wait a receiver can ask for with Retry-After
// (see outbound.RetryAfter): an hour.
const MaxRetryAfter = outbound.MaxRetryAfter
