// Package ocf is the framework every vnfha OCF resource agent is written with.
//
// An agent is declared once, as an Agent value: its name, descriptions,
// parameters and actions. From that single declaration the package derives
// the meta-data XML that Pacemaker, pcs and ocf-tester read, the typed
// parameter values a handler receives, the validate-all action, and the
// Markdown reference page under docs/agents/.
//
// Handlers return an error. A nil error is OCF_SUCCESS; an *Error or a Code
// carries any other OCF exit code (including the non-error states
// OCF_NOT_RUNNING and OCF_RUNNING_PROMOTED); any other error is
// OCF_ERR_GENERIC. Exactly one function, (*Agent).Run, turns that result
// into the process exit code and the "ocf-exit-reason:" line on stderr.
package ocf
