package hypervisor

import (
	"testing"

	"github.com/vmtestbed/vmtestbed/internal/killtest"
)

// TestSpecTable: Specs() is the registered specs, word for word.
func TestSpecTable(t *testing.T) {
	var table []string
	for _, s := range Specs() {
		table = append(table, s.Title())
	}
	killtest.CheckSpecTable(t, table, `s\.(?:it|itLease)\(`, 60)
}
