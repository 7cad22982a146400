package crmwrap

import (
	"context"
	"fmt"

	"github.com/vnfha/vnfha/crmwrap/crmmon"
)

// crmMonArgs asks for everything in one shot. XML output already includes
// every section (fence history too, when crm_mon can reach the fencer);
// --inactive adds stopped resources.
var crmMonArgs = []string{"--one-shot", "--inactive", "--output-as=xml"}

// Status runs crm_mon once and returns the computed cluster status.
//
// crm_mon exits non-zero in some states (for example 102 when the cluster
// is not running) while still printing an XML result. When that result is
// an error, Status returns a *ResultError; when the result says OK but the
// tool still failed, it returns the parsed status and the *ExitError.
func (c *Client) Status(ctx context.Context) (*crmmon.Status, error) {
	out, runErr := c.run(ctx, "crm_mon", crmMonArgs, nil)
	st, err := crmmon.Parse(out)
	if err != nil {
		if runErr != nil {
			return nil, fmt.Errorf("crm_mon: %w", runErr)
		}
		return nil, err
	}
	if err := resultErr("crm_mon", st.Result, runErr); err != nil {
		return st, err
	}
	return st, nil
}
