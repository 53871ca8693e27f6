package guestagent

import (
	. "github.com/onsi/ginkgo/v2"

	"github.com/vmtestbed/vmtestbed/conformance/report"
)

// fail fails the spec with a sanitised message.
func fail(message string) {
	GinkgoHelper()
	Fail(report.Sanitize(message))
}

// skip skips the spec with a sanitised message.
func skip(message string) {
	GinkgoHelper()
	Skip(report.Sanitize(message))
}
