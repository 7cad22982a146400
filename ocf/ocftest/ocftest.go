// Package ocftest holds test helpers for OCF agents: checking meta-data the
// way ocf-tester and pcs check it, and finding the external tools that does
// need.
package ocftest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/internal/testenv"
)

// Paths of the schemas that Debian 12's resource-agents and pcs packages
// install, and that ocf-tester and pcs validate meta-data against.
const (
	RaAPIDTD = "/usr/share/resource-agents/ra-api-1.dtd"
	PcsOCF10 = "/usr/share/pcs/data/ocf-1.0.rng"
	PcsOCF11 = "/usr/share/pcs/data/ocf-1.1.rng"
)

// RequireTool returns the path of an external tool a test needs. A missing
// tool fails the test in CI (CI=true), where `make deps` installs it, and
// skips it elsewhere.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	missing(t, fmt.Sprintf("tool %s (%v)", name, err))
	return ""
}

// RequireFile is RequireTool for data files such as schemas.
func RequireFile(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		missing(t, fmt.Sprintf("file %s (%v)", path, err))
	}
}

func missing(t testing.TB, what string) {
	t.Helper()
	testenv.Require(t, what, errors.New("missing: install libxml2-utils, resource-agents and pcs (make deps)"))
}

// ValidateMetaData checks a meta-data document with xmllint as ocf-tester
// does (DTD, through the document's own DOCTYPE) and as pcs 0.11 does (the
// RelaxNG schema for OCF 1.0 and for OCF 1.1; both must accept it). It
// requires xmllint and the schemas; see RequireTool.
func ValidateMetaData(t testing.TB, md []byte) {
	t.Helper()
	xmllint := RequireTool(t, "xmllint")
	for _, f := range []string{RaAPIDTD, PcsOCF10, PcsOCF11} {
		RequireFile(t, f)
	}
	if err := CheckMetaData(xmllint, md, t.TempDir()); err != nil {
		t.Errorf("%v\n%s", err, md)
	}
}

// CheckMetaData runs the xmllint checks of ValidateMetaData and returns what
// failed, using dir for a scratch file.
func CheckMetaData(xmllint string, md []byte, dir string) error {
	file := filepath.Join(dir, "meta-data.xml")
	if err := os.WriteFile(file, md, 0o644); err != nil {
		return fmt.Errorf("write meta-data: %w", err)
	}
	checks := [][]string{
		// Exactly what ocf-tester runs, in the DTD's directory: the
		// DOCTYPE's relative system id must resolve there.
		{"--noout", "--valid", "-"},
		{"--noout", "--dtdvalid", RaAPIDTD, file},
		{"--noout", "--relaxng", PcsOCF10, file},
		{"--noout", "--relaxng", PcsOCF11, file},
	}
	var errs []error
	for _, args := range checks {
		cmd := exec.Command(xmllint, args...)
		cmd.Dir = filepath.Dir(RaAPIDTD)
		if args[len(args)-1] == "-" {
			cmd.Stdin = bytes.NewReader(md)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("xmllint %s: %w\n%s", strings.Join(args, " "), err, out))
		}
	}
	return errors.Join(errs...)
}

// PublicDir makes a fresh directory that every user can enter and read,
// unlike t.TempDir's, whose parent is private: for binaries that other
// users (ocf-tester's nobody, a VNFC's user) or lab nodes run. t.Cleanup
// removes it.
func PublicDir(t testing.TB, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// BuildAgent compiles cmd/vnfha-agent into a fresh world-readable directory
// and links it there as name, the way it is installed under
// /usr/lib/ocf/resource.d/vnfha; it returns the link. World-readable,
// because ocf-tester runs meta-data as user nobody.
func BuildAgent(t testing.TB, name string) string {
	t.Helper()
	gobin := RequireTool(t, "go")
	dir := PublicDir(t, "vnfha-agent-test-")
	bin := filepath.Join(dir, "vnfha-agent")
	cmd := exec.Command(gobin, "build", "-o", bin, "github.com/vnfha/vnfha/cmd/vnfha-agent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	link := filepath.Join(dir, name)
	if err := os.Symlink("vnfha-agent", link); err != nil {
		t.Fatal(err)
	}
	return link
}
