package gcftrace_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gcftrace/gcftrace"

// pkg is one package of the module as go list reports it.
type pkg struct {
	path    string
	imports []string // direct
	deps    []string // transitive
}

// violations checks the dependency rule of the hexagon (DESIGN.md):
//   - ports imports (directly) only the standard library, OTel and ports, and
//     nothing else of this module even indirectly;
//   - core never imports adapters or wiring;
//   - adapters never import core or wiring;
//   - only wiring imports go.uber.org/fx, and no library package imports wiring.
//
// Each message names the package, the offending import and the direct
// import that brings it in.
func violations(pkgs []pkg, std map[string]bool) []string {
	byPath := map[string]pkg{}
	for _, p := range pkgs {
		byPath[p.path] = p
	}
	via := func(p pkg, dep string) string {
		for _, imp := range p.imports {
			if imp == dep {
				return "imported directly"
			}
		}
		for _, imp := range p.imports {
			if q, ok := byPath[imp]; ok && slices.Contains(q.deps, dep) {
				return "via " + imp
			}
		}
		for _, imp := range p.imports {
			if !std[imp] {
				return "via " + imp + " (probably)"
			}
		}
		return "indirectly"
	}
	under := func(path, dir string) bool {
		return path == module+"/"+dir || strings.HasPrefix(path, module+"/"+dir+"/")
	}
	var out []string
	for _, p := range pkgs {
		inWiring := under(p.path, "wiring")
		for _, d := range p.deps {
			var why string
			switch {
			case under(p.path, "ports") && slices.Contains(p.imports, d) && !std[d] && !under(d, "ports") && !strings.HasPrefix(d, "go.opentelemetry.io/"):
				why = "ports may import only the standard library, OTel and ports"
			case under(p.path, "ports") && (under(d, "core") || under(d, "adapters")):
				why = "ports imports nothing else of this module"
			case under(p.path, "core") && (under(d, "adapters") || under(d, "wiring")):
				why = "core sees ports only"
			case under(p.path, "adapters") && (under(d, "core") || under(d, "wiring")):
				why = "adapters see ports only"
			case !inWiring && (d == "go.uber.org/fx" || strings.HasPrefix(d, "go.uber.org/fx/")):
				why = "only wiring imports fx"
			case !inWiring && under(d, "wiring"):
				why = "no library package imports wiring"
			}
			if why != "" {
				out = append(out, fmt.Sprintf("%s imports %s (%s): %s", p.path, d, via(p, d), why))
			}
		}
	}
	return out
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func TestDependencyRule(t *testing.T) {
	std := map[string]bool{}
	for _, s := range goList(t, "std") {
		std[s] = true
	}
	var pkgs []pkg
	for _, line := range goList(t, "-f", "{{.ImportPath}}|{{join .Imports \",\"}}|{{join .Deps \",\"}}", "./...") {
		parts := strings.SplitN(line, "|", 3)
		pkgs = append(pkgs, pkg{path: parts[0], imports: split(parts[1]), deps: split(parts[2])})
	}
	if len(pkgs) < 6 {
		t.Fatalf("go list found only %d packages; is the test running at the module root?", len(pkgs))
	}
	for _, v := range violations(pkgs, std) {
		t.Error(v)
	}
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func TestDependencyRuleCatches(t *testing.T) {
	std := map[string]bool{"context": true}
	tests := []struct {
		give pkg
		want string
	}{
		{
			give: pkg{path: module + "/core", imports: []string{module + "/adapters/export"}, deps: []string{module + "/adapters/export"}},
			want: "github.com/gcftrace/gcftrace/core imports github.com/gcftrace/gcftrace/adapters/export (imported directly): core sees ports only",
		},
		{
			give: pkg{path: module + "/adapters/handler", imports: []string{module + "/core"}, deps: []string{module + "/core"}},
			want: "github.com/gcftrace/gcftrace/adapters/handler imports github.com/gcftrace/gcftrace/core (imported directly): adapters see ports only",
		},
		{
			give: pkg{path: module + "/core", imports: []string{"github.com/x/y"}, deps: []string{"github.com/x/y", "go.uber.org/fx"}},
			want: "github.com/gcftrace/gcftrace/core imports go.uber.org/fx (via github.com/x/y (probably)): only wiring imports fx",
		},
		{
			give: pkg{path: module + "/ports", imports: []string{"github.com/google/uuid"}, deps: []string{"github.com/google/uuid"}},
			want: "github.com/gcftrace/gcftrace/ports imports github.com/google/uuid (imported directly): ports may import only the standard library, OTel and ports",
		},
		{
			give: pkg{path: module + "/adapters/export", imports: []string{module + "/wiring"}, deps: []string{module + "/wiring"}},
			want: "github.com/gcftrace/gcftrace/adapters/export imports github.com/gcftrace/gcftrace/wiring (imported directly): adapters see ports only",
		},
	}
	for _, tt := range tests {
		t.Run(tt.give.path, func(t *testing.T) {
			got := violations([]pkg{tt.give}, std)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("violations = %q\nwant [%q]", got, tt.want)
			}
		})
	}
	clean := []pkg{
		{path: module + "/wiring", imports: []string{"go.uber.org/fx", module + "/core"}, deps: []string{"go.uber.org/fx", module + "/core"}},
		{path: module + "/core", imports: []string{module + "/ports", "context"}, deps: []string{module + "/ports", "context"}},
	}
	if got := violations(clean, std); len(got) != 0 {
		t.Errorf("clean graph reported %q", got)
	}
}
