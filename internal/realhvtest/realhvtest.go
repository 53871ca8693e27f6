// Package realhvtest is what the tests that need a real libvirt host share:
// they skip where none runs, unless VMTESTBED_REALHV=1 (make test-realhv,
// CI) makes that a failure.
package realhvtest

import (
	"os"
	"testing"
)

// EnvRequired set to "1" turns a missing libvirt host into a test failure.
const EnvRequired = "VMTESTBED_REALHV"

// EnvURI2 names the second libvirt host of the tests spread over two.
const EnvURI2 = "VMTESTBED_LIBVIRT_URI2"

// Required reports whether the tests must have a libvirt host.
func Required() bool { return os.Getenv(EnvRequired) == "1" }

// Unavailable ends a test whose libvirt host did not answer with err: a
// failure when Required, else a skip that says how to get one.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("%s=1 but %s is not reachable: %v", EnvRequired, what, err)
	}
	t.Skipf("no %s here (%v); ci/realhv-setup.sh starts one (make test-realhv)", what, err)
}

// SecondURI is the second libvirt host's URI ($VMTESTBED_LIBVIRT_URI2,
// which ci/realhv-setup.sh --second-host starts on loopback TCP); without
// one the test skips, or fails when Required.
func SecondURI(t testing.TB) string {
	t.Helper()
	uri := os.Getenv(EnvURI2)
	if uri == "" {
		if Required() {
			t.Fatalf("%s=1 needs %s (ci/realhv-setup.sh --second-host prints it)", EnvRequired, EnvURI2)
		}
		t.Skipf("no second libvirt host: set %s (ci/realhv-setup.sh --second-host starts one)", EnvURI2)
	}
	return uri
}
