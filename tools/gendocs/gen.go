package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche"
	"github.com/vmtestbed/vmtestbed/conformance/guestagent"
	"github.com/vmtestbed/vmtestbed/conformance/hypervisor"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/internal/killtest"
)

//go:embed conformance.md.tmpl
var conformanceTmpl string

// spec is one row of a suite's spec table, whatever the suite.
type spec struct{ ID, Text, Needs string }

// row is a spec as the doc shows it.
type row struct{ ID, Text, Needs, KilledBy, Semantic string }

// faultRow is a broken target as the doc shows it.
type faultRow struct{ Name, Semantic, What, Targets string }

// suite is one suite's section.
type suite struct {
	Title    string
	Sum      killtest.Summary
	Rows     []row
	Faults   []faultRow
	Variants int
}

// matrixPath is where suite name's committed kill matrix lives under root.
func matrixPath(root, name string) string {
	return filepath.Join(root, "conformance", name, filepath.FromSlash(killtest.MatrixFile))
}

// Generate renders docs/CONFORMANCE.md from the spec tables and the kill
// matrices committed under root.
func Generate(root string) ([]byte, error) {
	var ava, hv, ga []spec
	for _, s := range avalanche.Specs() {
		ava = append(ava, spec{s.ID, s.Text, s.Capability()})
	}
	for _, s := range hypervisor.Specs() {
		needs := ""
		if s.Convention() {
			needs = "SHOULD: a convention, never fails the CLI's run"
		}
		hv = append(hv, spec{s.ID, s.Text, needs})
	}
	for _, s := range guestagent.Specs() {
		needs := "profile " + strings.Join(s.Profiles, ", ")
		if len(s.Profiles) == 3 {
			needs = "every profile"
		}
		if s.Capability != "" {
			needs += "; " + s.Capability
		}
		ga = append(ga, spec{s.ID, s.Text, needs})
	}
	data := struct {
		Suites                            []*suite
		Avalanche, Hypervisor, Guestagent *suite
	}{}
	for _, x := range []struct {
		name, title string
		specs       []spec
		into        **suite
	}{
		{"avalanche", "Avalanche VM plugins", ava, &data.Avalanche},
		{"hypervisor", "hypervisor.v1", hv, &data.Hypervisor},
		{"guestagent", "guest agents", ga, &data.Guestagent},
	} {
		m, err := killtest.ReadFile(matrixPath(root, x.name))
		if err != nil {
			return nil, err
		}
		s, err := section(x.title, x.specs, m)
		if err != nil {
			return nil, err
		}
		*x.into = s
		data.Suites = append(data.Suites, s)
	}
	data.Avalanche.Variants = len(refvm.Variants())
	t, err := template.New("conformance").Funcs(template.FuncMap{
		"pct": func(f float64) string { return fmt.Sprintf("%.0f%%", f) },
	}).Parse(conformanceTmpl)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("render docs: %w", err)
	}
	out := buf.Bytes()
	for bytes.Contains(out, []byte("\n\n\n")) {
		out = bytes.ReplaceAll(out, []byte("\n\n\n"), []byte("\n\n"))
	}
	return out, nil
}

// section builds a suite's rows from its spec table and kill matrix; the
// two must list the same specs (make killmatrix after changing a table).
func section(title string, specs []spec, m *killtest.Matrix) (*suite, error) {
	var ids []string
	for _, s := range specs {
		ids = append(ids, s.ID)
	}
	if !slices.Equal(slices.Sorted(slices.Values(ids)), slices.Sorted(slices.Values(m.Specs))) {
		return nil, fmt.Errorf("the %s kill matrix lists other specs than the spec table: run make killmatrix", m.Suite)
	}
	s := &suite{Title: title, Sum: m.Summary()}
	targets := map[string][]string{} // fault -> its targets
	for _, sp := range specs {
		r := row{ID: sp.ID, Text: cell(sp.Text), Needs: cell(sp.Needs), Semantic: "no"}
		var by []string
		for _, name := range m.Targets[sp.ID] {
			targets[name] = append(targets[name], sp.ID)
			f, _ := m.Fault(name)
			if f.Semantic {
				by = append(by, "*`"+name+"`*")
			} else {
				by = append(by, "`"+name+"`")
			}
		}
		if len(by) == 0 && len(m.Kills[sp.ID]) > 0 {
			by = append(by, fmt.Sprintf("collateral only: %d broken targets", len(m.Kills[sp.ID])))
		}
		if len(by) == 0 {
			by = append(by, "**nothing**")
		}
		if m.KilledSemantically(sp.ID) {
			r.Semantic = "yes"
		}
		r.KilledBy = strings.Join(by, ", ")
		s.Rows = append(s.Rows, r)
	}
	for _, f := range m.Faults {
		fr := faultRow{Name: f.Name, Semantic: "no", What: cell(f.What), Targets: strings.Join(targets[f.Name], ", ")}
		if f.Semantic {
			fr.Semantic = "yes"
		}
		if fr.Targets == "" {
			fr.Targets = "(none: it checks skips and the method table)"
		}
		s.Faults = append(s.Faults, fr)
	}
	return s, nil
}

// cell makes text safe in a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
