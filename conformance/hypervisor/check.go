package hypervisor

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// expectCode fails unless err carries the status code the contract requires.
// what describes the call, e.g. "CreateInstance with a duplicate name".
func expectCode(err error, want codes.Code, what string, args ...any) {
	GinkgoHelper()
	desc := fmt.Sprintf(what, args...)
	Expect(status.Code(err)).To(Equal(want),
		"%s: the server returned %s (%v); the contract says %s", desc, status.Code(err), err, want)
}

// expectOK fails when a call that the contract says succeeds returned an error.
func expectOK(err error, what string, args ...any) {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred(), "%s: the contract says it succeeds", fmt.Sprintf(what, args...))
}

// eventually polls f until it passes, bounded by ctx and a 10 s ceiling.
func eventually(ctx context.Context, f func(g Gomega)) AsyncAssertion {
	GinkgoHelper()
	return Eventually(ctx, f).WithTimeout(10 * time.Second).WithPolling(5 * time.Millisecond)
}
