// Package scenarios holds the scenario files shipped with vmtestbed, embedded
// so `vmtestbed run` works from any directory.
package scenarios

import "embed"

// FS holds every *.yaml scenario in this directory.
//
//go:embed *.yaml
var FS embed.FS

// Default is the scenario `make run` plays.
const Default = "default.yaml"
