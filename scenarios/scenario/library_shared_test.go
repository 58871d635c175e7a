package scenario_test

import (
	"testing"

	"flotilla/scenarios/library"
	"flotilla/scenarios/scenario"
)

// TestTheLibraryChangesOnlyItsOwnServices: on a shared cluster (run
// --address), Check refuses no library scenario for changing a service it
// does not apply (those with node faults are refused for those alone).
func TestTheLibraryChangesOnlyItsOwnServices(t *testing.T) {
	r := &scenario.Runner{Shared: true, Lab: nil, DNS: "127.0.0.1:53"}
	for _, name := range library.Names() {
		sc, err := library.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Check(sc)
		if err == nil {
			continue
		}
		if se, ok := err.(*scenario.StepError); ok && se.Kind == scenario.KindFault &&
			se.Err.Error() == "node faults need the lab the run starts (run it without --address)" {
			continue
		}
		t.Errorf("%s: %v", name, err)
	}
}
