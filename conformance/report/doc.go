// Package report turns a ginkgo types.Report into the results every vmtestbed
// conformance suite produces: a JSON result, JUnit XML, a console progress line
// per spec, and a per-method table that says which RPCs of a contract are
// conformant, failing, unimplemented or untested.
//
// It knows nothing about any one contract. A suite records the RPCs each spec
// made as a report entry named CallsEntry (see EncodeCalls); Methods then
// attributes spec outcomes to methods.
package report
