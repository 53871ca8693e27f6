package hypervisor

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain is the package's only TestMain: every test must leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
