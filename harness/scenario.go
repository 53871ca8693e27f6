// Package harness assembles whole stacks from the fakes and runs scenarios
// against them. A scenario is a small YAML script (scenarios/*.yaml): a
// topology line or two and a list of steps, each step one call into the
// stack, run in order with a seeded random source so the same seed gives the
// same event trace.
//
// Network (network.go) is the multi-node stack: N fake nodes, each with its
// own in-process reference VM and one validator set, in one sim.World whose
// delivery queue carries every message between them, with a Snowball
// decider, bootstrapping, faults and invariants (docs/SIM.md).
package harness

import (
	"bytes"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Scenario is one YAML scenario file.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Plugin is "refvm" for the in-process reference VM (the default), or the
	// path of a plugin binary that serves the reference VM's JSON-RPC API.
	Plugin string `yaml:"plugin"`
	Steps  []Step `yaml:"steps"`
}

// Step is one action; exactly one field is set.
type Step struct {
	// Issue sends this many transactions through the VM's JSON-RPC API.
	Issue int `yaml:"issue,omitempty"`
	// Build waits for the VM to ask for a block, then builds, verifies and
	// accepts it, this many times.
	Build int `yaml:"build,omitempty"`
	// ExpectHeight checks the last accepted height.
	ExpectHeight *uint64 `yaml:"expect_height,omitempty"`
	// ExpectStateCount checks how many issued keys read back with their value.
	ExpectStateCount *int `yaml:"expect_state_count,omitempty"`
}

func (s Step) String() string {
	switch {
	case s.Issue > 0:
		return fmt.Sprintf("issue %d", s.Issue)
	case s.Build > 0:
		return fmt.Sprintf("build %d", s.Build)
	case s.ExpectHeight != nil:
		return fmt.Sprintf("expect_height %d", *s.ExpectHeight)
	case s.ExpectStateCount != nil:
		return fmt.Sprintf("expect_state_count %d", *s.ExpectStateCount)
	}
	return "empty step"
}

func (s Step) validate() error {
	set := 0
	for _, on := range []bool{s.Issue != 0, s.Build != 0, s.ExpectHeight != nil, s.ExpectStateCount != nil} {
		if on {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("a step sets exactly one of issue, build, expect_height, expect_state_count (this one sets %d)", set)
	}
	if s.Issue < 0 || s.Build < 0 {
		return fmt.Errorf("issue and build take a positive count")
	}
	return nil
}

// ParseScenario reads a scenario and checks every step.
func ParseScenario(b []byte) (*Scenario, error) {
	var sc Scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("parse scenario: %w", err)
	}
	if sc.Plugin == "" {
		sc.Plugin = "refvm"
	}
	if len(sc.Steps) == 0 {
		return nil, fmt.Errorf("scenario %q has no steps", sc.Name)
	}
	for i, st := range sc.Steps {
		if err := st.validate(); err != nil {
			return nil, fmt.Errorf("scenario %q step %d: %w", sc.Name, i+1, err)
		}
	}
	return &sc, nil
}

// LoadScenario reads a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return ParseScenario(b)
}
