package vnfc

import (
	"github.com/vnfha/vnfha/internal/failreport"
	"github.com/vnfha/vnfha/ocf"
)

// newReport prepares what the supervisor (backend=process) and the unit
// watcher (backend=systemd) need to tell Pacemaker that the VNFC failed
// (internal/failreport: the controller's IPC, crm_resource --fail as the
// fallback). crm_resource is looked for now, so that a missing Pacemaker
// CLI fails the start, not the report.
func newReport(env *ocf.Env) (failreport.Report, error) {
	bin, err := lookPath(crmResourceBin)
	if err != nil {
		return failreport.Report{}, ocf.NotInstalled("fast_fail needs crm_resource: %v", err)
	}
	return failreport.New(env, bin, "vnfha-vnfc"), nil
}
