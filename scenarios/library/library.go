package library

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"flotilla/scenarios/scenario"
)

//go:embed *.yaml
var files embed.FS

// Files is the library's files, for apply steps' files.
func Files() fs.FS { return files }

// Names lists the scenarios, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".") // an embedded directory always reads
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Load reads and checks one scenario of the library.
func Load(name string) (*scenario.Scenario, error) {
	data, err := fs.ReadFile(files, name+".yaml")
	if err != nil {
		return nil, fmt.Errorf("no scenario %q in the library (it has %s)", name, strings.Join(Names(), ", "))
	}
	return scenario.Parse(name+".yaml", data, files, ".")
}
