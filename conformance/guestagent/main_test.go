package guestagent

import (
	"testing"

	"go.uber.org/goleak"
)

// Ginkgo's interrupt handler (started by RunSpecs in child processes) lives
// for the whole process by design; everything else must be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"))
}
