package scenario

import (
	"strings"
	"testing"
	"testing/fstest"
)

// goodScenario uses every step kind once.
const goodScenario = `title: Everything once
teaches: every step kind
steps:
  - say: hello
  - apply:
      spec: &web
        kind: Service
        name: web
        image: flotilla.local/demo:v1
        replicas: 3
        ports: [{name: http, port: 8080, protocol: http}]
  - wait: {allocations: {service: web, running: 3, ready: "3+"}, timeout: 20s}
  - expect: {allocations: {service: web, perNode: {n1: 1, n2: "<=1"}, nodes: "2..3"}}
  - load: {start: bg, service: web, rate: 10}
  - fault: {kill: n2}
  - fault: {restart: last}
  - fault: {service: web, readiness: fail}
  - fault: {service: web, errorRate: 30%, all: true}
  - rollout: {service: web, action: undo}
  - scale: {service: web, replicas: 0}
  - drain: {node: n3}
  - sleep: 1s
  - load: {stop: bg, expect: {errors: 0, versions: {v1: "1+"}}}
  - expect: {load: {name: bg, requests: "1+"}}
  - apply:
      spec:
        <<: *web
        replicas: 5
  - apply: {file: more.yaml}
  - delete: {service: web}
`

const moreYAML = `kind: Service
name: other
image: flotilla.local/demo:v1
---
kind: Service
name: third
image: flotilla.local/demo:v1
`

func parseGood(t *testing.T) *Scenario {
	t.Helper()
	sc, err := Parse("good.yaml", []byte(goodScenario), fstest.MapFS{"dir/more.yaml": {Data: []byte(moreYAML)}}, "dir")
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestParseReadsEveryStepKindAndFillsTheLab(t *testing.T) {
	sc := parseGood(t)
	if sc.Name != "good" || sc.Title != "Everything once" {
		t.Fatalf("name %q title %q", sc.Name, sc.Title)
	}
	if sc.Lab != (LabSpec{Servers: 3, Agents: 3, Runtime: "sim"}) {
		t.Fatalf("lab defaults: %+v", sc.Lab)
	}
	var kinds []string
	for i := range sc.Steps {
		kinds = append(kinds, sc.Steps[i].Kind())
	}
	want := "say apply wait expect load fault fault fault fault rollout scale drain sleep load expect apply apply delete"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("kinds:\n got %s\nwant %s", got, want)
	}
	if specs := sc.Specs(1); len(specs) != 1 || specs[0].Name != "web" || specs[0].ReplicaCount() != 3 {
		t.Fatalf("step 1's spec: %+v", specs)
	}
	// A merge key's value overridden, as YAML allows.
	if specs := sc.Specs(15); len(specs) != 1 || specs[0].ReplicaCount() != 5 || specs[0].Image != "flotilla.local/demo:v1" {
		t.Fatalf("merged spec: %+v", specs)
	}
	if specs := sc.Specs(16); len(specs) != 2 || specs[1].Name != "third" {
		t.Fatalf("file's specs: %+v", specs)
	}
	if got := strings.Join(sc.Services(), " "); got != "default/web default/other default/third" {
		t.Fatalf("services %s", got)
	}
	c := sc.Steps[3].Expect.Allocations
	if !c.PerNode["n2"].Match(0) || c.PerNode["n2"].Match(2) || !c.Nodes.Match(2) || c.Nodes.Match(4) {
		t.Fatalf("counts: %+v %+v", c.PerNode, c.Nodes)
	}
}

// TestAnApplyFileIsInsideTheScenariosDirectory: a file beside the
// scenario or under it is read; an absolute path, or one that leaves the
// directory, is refused naming the field, whether it exists or not.
func TestAnApplyFileIsInsideTheScenariosDirectory(t *testing.T) {
	files := fstest.MapFS{"dir/web.yaml": {Data: []byte(moreYAML)}, "dir/sub/web.yaml": {Data: []byte(moreYAML)}, "etc/hostname": {Data: []byte("h\n")}}
	head := "title: t\nteaches: t\nsteps:\n  - apply: {file: "
	for _, ok := range []string{"web.yaml", "./web.yaml", "sub/web.yaml", "sub/../web.yaml"} {
		if _, err := Parse("s.yaml", []byte(head+ok+"}\n"), files, "dir"); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"/dir/web.yaml", "/etc/hostname", "../etc/hostname", "../../../etc/hostname", "sub/../../etc/hostname"} {
		_, err := Parse("s.yaml", []byte(head+bad+"}\n"), files, "dir")
		want := `s.yaml: steps[0].apply.file: "` + bad + `": want a path relative to the scenario's directory, and inside it`
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %s", bad, err, want)
		}
	}
}

// TestParseErrorsNameTheStepAndField: every mistake is refused before
// anything runs, with the file, the step and the field.
func TestParseErrorsNameTheStepAndField(t *testing.T) {
	head := "title: t\nteaches: t\nsteps:\n"
	apply := "  - apply: {spec: {kind: Service, name: web, image: demo}}\n"
	cases := []struct {
		name, body, want string
	}{
		{"misspelt field", head + apply + "  - say: a\n  - say: b\n  - wait: {allocations: {service: web, runing: 3}}\n",
			`node-loss.yaml: steps[3].wait.allocations.runing: unknown field (did you mean "running"?)`},
		{"unknown step kind", head + "  - sya: hello\n", `node-loss.yaml: steps[0].sya: unknown field (did you mean "say"?)`},
		{"two kinds in a step", head + "  - say: a\n    sleep: 1s\n", "node-loss.yaml: steps[0]: one kind per step, got say and sleep"},
		{"empty step", head + "  - {}\n", "node-loss.yaml: steps[0]: empty step"},
		{"bad only", head + "  - sleep: 1h\n    only: virtaul\n", `node-loss.yaml: steps[0].only: "virtaul": want live or virtual`},
		{"bad count", head + apply + "  - expect: {allocations: {service: web, running: 3x}}\n", `node-loss.yaml: steps[1].expect.allocations.running: "3x" is not a count`},
		{"fractional count", head + apply + "  - expect: {allocations: {service: web, running: 2.5}}\n", `steps[1].expect.allocations.running: "2.5" is not a count`},
		{"bad inline spec", head + "  - apply: {spec: {kind: Service, name: web, image: demo, replicas: -1}}\n", "node-loss.yaml: steps[0].apply: spec.replicas:"},
		{"unknown spec field", head + "  - apply: {spec: {kind: Service, name: web, image: demo, replica: 1}}\n", `node-loss.yaml: steps[0].apply: spec.replica: unknown field (did you mean "replicas"?)`},
		{"apply with nothing", head + "  - apply: {}\n", "steps[0].apply: want spec (a service document) or file"},
		{"apply file without files", head + "  - apply: {file: x.yaml}\n", `steps[0].apply.file: "x.yaml": no files to read it from`},
		{"wait with nothing", head + "  - wait: {timeout: 5s}\n", "steps[0].wait: nothing to check"},
		{"negative timeout", head + apply + "  - wait: {service: {name: web, replicas: 1}, timeout: -5s}\n", `steps[1].wait.timeout: invalid duration "-5s"`},
		{"bad duration", head + "  - sleep: soon\n", "steps[0].sleep:"},
		{"zero sleep", head + "  - sleep: 0s\n", "steps[0].sleep: must be more than 0s"},
		{"allocations with nothing to check", head + "  - expect: {allocations: {service: web}}\n", "steps[0].expect.allocations: nothing to check"},
		{"bad rollout phase", head + "  - wait: {rollout: {service: web, phase: done}}\n", `steps[0].wait.rollout.phase: want progressing, paused, completed, aborted or failed, got "done"`},
		{"bad weight key", head + "  - wait: {rollout: {service: web, weights: {blue: 100}}}\n", "steps[0].wait.rollout.weights.blue: want a revision number"},
		{"bad dns type", head + "  - expect: {dns: {name: web.default.svc.flotilla, type: MX, answers: 1}}\n", `steps[0].expect.dns.type: want A or SRV, got "MX"`},
		{"bad node status", head + "  - wait: {node: {name: n2, status: gone}}\n", `steps[0].wait.node.status: want ready, down or draining, got "gone"`},
		{"load expect of no load", head + "  - expect: {load: {name: bg, errors: 0}}\n", `steps[0].expect.load.name: no load "bg" has started before this step`},
		{"stop of no load", head + "  - load: {stop: bg}\n", `steps[0].load.stop: no load "bg" is running at this step`},
		{"load started twice", head + "  - load: {start: bg, service: web, rate: 1}\n  - load: {start: bg, service: web, rate: 1}\n", `steps[1].load.start: a load named "bg" started before`},
		{"load without rate", head + "  - load: {start: bg, service: web}\n", "steps[0].load: rate 0: want requests per second"},
		{"load bad profile", head + "  - load: {start: bg, service: web, rate: 5, profile: saw, period: 10s}\n", `steps[0].load: profile "saw": want sine or square`},
		{"load expect at start", head + "  - load: {start: bg, service: web, rate: 5, expect: {errors: 0}}\n", "steps[0].load.expect: only when the load stops"},
		{"checkouts without users", head + "  - load: {start: bg, service: web, rate: 5, checkoutRatio: 0.5}\n", "steps[0].load.checkoutRatio: only with users"},
		{"seed without users", head + "  - load: {start: bg, service: web, rate: 5, seed: 7}\n", "steps[0].load.seed: only with users"},
		{"bad checkout ratio", head + "  - load: {start: bg, service: web, rate: 5, users: 10, checkoutRatio: 2}\n", "steps[0].load: checkout ratio 2: want between 0 and 1"},
		{"bad checkout path", head + "  - load: {start: bg, service: web, rate: 5, users: 10, checkoutPath: buy}\n", `steps[0].load: checkout path "buy": want an absolute path`},
		{"negative users", head + "  - load: {start: bg, service: web, rate: 5, users: -1}\n", "steps[0].load: users -1:"},
		{"users at a stop", head + "  - load: {start: bg, service: web, rate: 5}\n  - load: {stop: bg, users: 10}\n", "steps[1].load: a stop takes only expect"},
		{"bad verdict", head + "  - wait: {rollout: {service: web, verdict: B won}}\n", `steps[0].wait.rollout.verdict: want B wins, A wins, no winner, got "B won"`},
		{"two faults", head + "  - fault: {kill: n1, pause: n2}\n", "steps[0].fault: one fault per step, got kill and pause"},
		{"unknown node", head + "  - fault: {kill: n9}\n", `steps[0].fault.kill: the lab has no "n9" (it has s1, s2, s3, n1, n2, n3; or leader, follower, last)`},
		{"last first", head + "  - fault: {resume: last}\n", "steps[0].fault.resume: last: no node fault came before"},
		{"node fault with a service", head + "  - fault: {kill: n1, service: web}\n", "steps[0].fault: kill takes a node only"},
		{"app fault without service", head + "  - fault: {crash: true}\n", "steps[0].fault.service: required"},
		{"bad readiness", head + "  - fault: {service: web, readiness: maybe}\n", `steps[0].fault.readiness: want fail or pass, got "maybe"`},
		{"bad error rate", head + "  - fault: {service: web, errorRate: \"2\"}\n", "steps[0].fault.errorRate: 2 is not between 0 and 1"},
		{"bad latency", head + "  - fault: {service: web, latency: slow}\n", "steps[0].fault.latency:"},
		{"all and replicas", head + "  - fault: {service: web, crash: true, all: true, replicas: 2}\n", "steps[0].fault.all: all or replicas, not both"},
		{"bad rollout action", head + "  - rollout: {service: web, action: rollback}\n", `steps[0].rollout.action: want promote, pause, resume, abort, retry, undo, got "rollback"`},
		{"full without promote", head + "  - rollout: {service: web, action: abort, full: true}\n", "steps[0].rollout.full: only with promote"},
		{"scale without replicas", head + "  - scale: {service: web}\n", "steps[0].scale.replicas: required"},
		{"bad service name", head + "  - scale: {service: Web, replicas: 1}\n", "steps[0].scale.service: invalid name"},
		{"bad namespace", head + "  - expect: {service: {name: web, namespace: Prod, replicas: 1}}\n", "steps[0].expect.service.namespace: invalid name"},
		{"drain without node", head + "  - drain: {}\n", "steps[0].drain.node: required"},
		{"no title", "teaches: t\nsteps:\n  - say: a\n", "node-loss.yaml: title: required"},
		{"no steps", "title: t\nteaches: t\n", "node-loss.yaml: steps: required"},
		{"unknown runtime", "title: t\nteaches: t\nlab: {runtime: docker}\nsteps:\n  - say: a\n", `node-loss.yaml: lab.runtime: "docker": want sim or containerd`},
		{"partition and heal at once", head + "  - fault: {partition: n1, heal: n1}\n", "steps[0].fault: one fault per step, got partition and heal"},
		{"heal before a partition", head + "  - fault: {heal: all}\n", "node-loss.yaml: steps[0].fault.heal: no partition came before"},
		{"heal the leader", head + "  - fault: {partition: leader}\n  - fault: {heal: leader}\n", "steps[1].fault.heal: leader names the server that leads (or not) now, not one cut off: heal last, a node by name, or all"},
		{"partition of an unknown node", head + "  - fault: {partition: n9}\n", `steps[0].fault.partition: the lab has no "n9" (it has s1, s2, s3, n1, n2, n3; or leader, follower, last)`},
		{"heal of an unknown node", head + "  - fault: {partition: n1}\n  - fault: {heal: everyone}\n", `steps[1].fault.heal: the lab has no "everyone" (it has s1, s2, s3, n1, n2, n3; or last, all)`},
		{"partition with a service", head + "  - fault: {partition: n1, service: web}\n", "steps[0].fault: partition takes a node only"},
		{"partition of all", head + "  - fault: {partition: all}\n", `steps[0].fault.partition: the lab has no "all"`},
		{"stop of a load started only live", head + "  - load: {start: bg, service: web, rate: 1}\n    only: live\n  - load: {stop: bg, expect: {errors: 0}}\n",
			`steps[1].load.stop: no load "bg" is running at this step in a virtual run (which leaves out the steps marked only: live)`},
		{"stop of a load started only virtual", head + "  - load: {start: bg, service: web, rate: 1}\n    only: virtual\n  - load: {stop: bg}\n",
			`steps[1].load.stop: no load "bg" is running at this step in a live run (which leaves out the steps marked only: virtual)`},
		{"stop only live of a load started only virtual", head + "  - load: {start: bg, service: web, rate: 1}\n    only: virtual\n  - load: {stop: bg}\n    only: live\n",
			`steps[1].load.stop: no load "bg" is running at this step`},
		{"load expect of a load started only live", head + "  - load: {start: bg, service: web, rate: 1}\n    only: live\n  - expect: {load: {name: bg, errors: 0}}\n",
			`steps[1].expect.load.name: no load "bg" has started before this step in a virtual run`},
		{"load started twice in one mode", head + "  - load: {start: bg, service: web, rate: 1}\n    only: virtual\n  - load: {start: bg, service: web, rate: 1}\n",
			`steps[1].load.start: a load named "bg" started before in a virtual run`},
		{"last after a live-only kill", head + "  - fault: {kill: n1}\n    only: live\n  - fault: {restart: last}\n",
			"steps[1].fault.restart: last: no node fault came before in a virtual run (which leaves out the steps marked only: live)"},
		{"heal after a virtual-only partition", head + "  - fault: {partition: n1}\n    only: virtual\n  - fault: {heal: all}\n",
			"steps[1].fault.heal: no partition came before in a live run (which leaves out the steps marked only: virtual)"},
		{"drain of an unknown node", head + "  - drain: {node: n9}\n", `steps[0].drain.node: the lab has no node "n9" (it has n1, n2, n3)`},
		{"drain of a server", head + "  - drain: {node: s1}\n", `steps[0].drain.node: the lab has no node "s1" (it has n1, n2, n3)`},
		{"node condition of an unknown node", head + "  - expect: {node: {name: n9, status: ready}}\n", `steps[0].expect.node.name: the lab has no node "n9" (it has n1, n2, n3)`},
		{"perNode of an unknown node", head + "  - expect: {allocations: {service: web, perNode: {n1: 1, n9: 0}}}\n", `steps[0].expect.allocations.perNode.n9: the lab has no node "n9" (it has n1, n2, n3)`},
		{"app fault on an unknown node", head + "  - fault: {service: web, crash: true, node: n9}\n", `steps[0].fault.node: the lab has no node "n9" (it has n1, n2, n3)`},
		{"event of an unknown node", head + "  - wait: {event: {type: NodeDown, node: n9}}\n", `steps[0].wait.event.node: the lab has no node "n9" (it has s1, s2, s3, n1, n2, n3)`},
		{"node beyond a smaller lab", "title: t\nteaches: t\nlab: {agents: 2}\nsteps:\n  - drain: {node: n3}\n", `steps[0].drain.node: the lab has no node "n3" (it has n1, n2)`},
		{"a second document", head + "  - say: a\n---\ntitle: u\nteaches: u\nsteps:\n  - say: b\n", "node-loss.yaml: a scenario is one YAML document: a second one begins at line 6 (after ---)"},
		{"a second document of a list", head + "  - say: a\n---\n- say: b\n", "node-loss.yaml: a scenario is one YAML document: a second one begins at line 6"},
		{"rate too high", head + "  - load: {start: bg, service: web, rate: 1e9}\n", "node-loss.yaml: steps[0].load.rate: must be at most 100000, got 1e+09"},
		{"infinite rate", head + "  - load: {start: bg, service: web, rate: .inf}\n", "node-loss.yaml: steps[0].load.rate: must be a finite number, got .inf"},
		{"rate out of range", head + "  - load: {start: bg, service: web, rate: 1e999}\n", "node-loss.yaml: steps[0].load.rate: number 1e999 is out of range"},
		{"NaN min rate", head + "  - load: {start: bg, service: web, rate: 5, profile: sine, period: 10s, minRate: .nan}\n", "node-loss.yaml: steps[0].load.minRate: must be a finite number, got .nan"},
		{"negative infinite checkout ratio", head + "  - load: {start: bg, service: web, rate: 5, users: 3, checkoutRatio: -.Inf}\n", "steps[0].load.checkoutRatio: must be a finite number, got -.Inf"},
		{"infinite replicas in a spec", head + "  - apply:\n      spec: {kind: Service, name: web, image: demo, replicas: .inf}\n", "steps[0].apply.spec.replicas: must be a finite number, got .inf"},
		{"error rate above 100%", head + "  - load: {start: bg, service: web, rate: 5}\n  - load: {stop: bg, expect: {maxErrorRate: 200%}}\n", "steps[1].load.expect.maxErrorRate: want 0% to 100%, got 200%"},
		{"negative error rate", head + "  - load: {start: bg, service: web, rate: 5}\n  - expect: {load: {name: bg, maxErrorRate: -5%}}\n", "steps[1].expect.load.maxErrorRate: want 0% to 100%, got -5%"},
		{"error rate as a bare number", head + "  - load: {start: bg, service: web, rate: 5}\n  - load: {stop: bg, expect: {maxErrorRate: 0.5}}\n",
			"steps[1].load.expect.maxErrorRate: want a percentage such as 1% or 0.5%, got 0.5 (a bare number is refused: a fault's errorRate reads 0.5 as 50%)"},
		{"error rate as a quoted bare number", head + "  - load: {start: bg, service: web, rate: 5}\n  - load: {stop: bg, expect: {maxErrorRate: \"2\"}}\n",
			"steps[1].load.expect.maxErrorRate: want a percentage such as 1% or 0.5%, got 2 ("},
		{"period without a profile", head + "  - load: {start: bg, service: web, rate: 5, period: 10s}\n", "steps[0].load.period: only with a profile (sine or square): without one the rate is steady"},
		{"minRate without a profile", head + "  - load: {start: bg, service: web, rate: 5, minRate: 1}\n", "steps[0].load.minRate: only with a profile (sine or square)"},
		{"profile settings at a stop", head + "  - load: {start: bg, service: web, rate: 5}\n  - load: {stop: bg, period: 10s}\n", "steps[1].load: a stop takes only expect"},
		{"timeout at a stop", head + "  - load: {start: bg, service: web, rate: 5}\n  - load: {stop: bg, timeout: 1s}\n", "steps[1].load: a stop takes only expect"},
		{"negative allocations revision", head + "  - expect: {allocations: {service: web, revision: -1, running: 1}}\n", "steps[0].expect.allocations.revision: must not be negative"},
		{"too many servers", "title: t\nteaches: t\nlab: {servers: 12}\nsteps:\n  - say: a\n", "lab.servers: want 1 to 9, got 12"},
		{"duplicate key", "title: t\ntitle: u\nteaches: t\nsteps:\n  - say: a\n", `node-loss.yaml: yaml: unmarshal errors: line 2: mapping key "title" already defined at line 1`},
		{"syntax error", head + "  - say: a: b\n", "node-loss.yaml: yaml: line 4:"},
		{"empty file", "", "node-loss.yaml: empty scenario"},
		{"not a mapping", "- say: a\n", "node-loss.yaml: a scenario is a mapping"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("node-loss.yaml", []byte(c.body), nil, ".")
			if err == nil {
				t.Fatalf("parsed:\n%s", c.body)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error:\n  %v\nwant it to contain\n  %s", err, c.want)
			}
		})
	}
}

// TestAFileMayStartAndEndWithADocumentMarker: --- before the scenario,
// and --- with nothing after it, leave one document.
func TestAFileMayStartAndEndWithADocumentMarker(t *testing.T) {
	for _, text := range []string{"---\ntitle: t\nteaches: t\nsteps:\n  - say: a\n", "title: t\nteaches: t\nsteps:\n  - say: a\n---\n", "title: t\nteaches: t\nsteps:\n  - say: a\n---\n# the end\n"} {
		if _, err := Parse("m.yaml", []byte(text), nil, "."); err != nil {
			t.Errorf("%q: %v", text, err)
		}
	}
}

// TestTextThatReadsLikeAHugeNumberIsText: 1e999 is too large a number
// for a rate, but a say may say it.
func TestTextThatReadsLikeAHugeNumberIsText(t *testing.T) {
	sc, err := Parse("m.yaml", []byte("title: t\nteaches: t\nsteps:\n  - say: 1e999\n"), nil, ".")
	if err != nil || sc.Steps[0].Say != "1e999" {
		t.Fatalf("%v", err)
	}
}

// TestStepsLimitedToAModeAreFollowedInThatMode: a load started and
// stopped in each mode, under one name, and a fault and its last in one
// mode, are valid.
func TestStepsLimitedToAModeAreFollowedInThatMode(t *testing.T) {
	_, err := Parse("m.yaml", []byte("title: t\nteaches: t\nsteps:\n"+
		"  - load: {start: bg, service: web, rate: 1}\n    only: live\n"+
		"  - load: {start: bg, service: web, rate: 5}\n    only: virtual\n"+
		"  - load: {stop: bg, expect: {errors: 0}}\n"+
		"  - fault: {kill: n1}\n    only: virtual\n"+
		"  - fault: {restart: last}\n    only: virtual\n"+
		"  - fault: {kill: n2}\n"+
		"  - fault: {restart: last}\n"), nil, ".")
	if err != nil {
		t.Fatal(err)
	}
}

// TestPartitionAndHealParse: a containerd lab's scenario may cut nodes
// off (leader, follower, last or by name) and heal them (by name, last or
// all).
func TestPartitionAndHealParse(t *testing.T) {
	sc, err := Parse("p.yaml", []byte("title: t\nteaches: t\nlab: {runtime: containerd}\nsteps:\n"+
		"  - fault: {partition: leader}\n  - fault: {heal: last}\n  - fault: {partition: follower}\n"+
		"  - fault: {partition: n2}\n  - fault: {heal: n2}\n  - fault: {heal: all}\n"), nil, ".")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Lab.Runtime != RuntimeContainerd {
		t.Fatalf("lab runtime %q", sc.Lab.Runtime)
	}
	var targets []string
	for _, s := range sc.Steps {
		targets = append(targets, s.Fault.nodeTarget())
	}
	if got := strings.Join(targets, " "); got != "leader last follower n2 n2 all" {
		t.Fatalf("node targets %q", got)
	}
}

func TestCountSyntax(t *testing.T) {
	cases := []struct {
		text     string
		in, out  []int
		readable string
	}{
		{"3", []int{3}, []int{2, 4}, "3"},
		{"3+", []int{3, 4, 100}, []int{2}, "at least 3"},
		{">=3", []int{3, 9}, []int{0}, "at least 3"},
		{">3", []int{4}, []int{3}, "at least 4"},
		{"<=2", []int{0, 2}, []int{3}, "at most 2"},
		{"<2", []int{0, 1}, []int{2}, "at most 1"},
		{"2..6", []int{2, 6}, []int{1, 7}, "2 to 6"},
		{"0+", []int{0, 5}, nil, "any number"},
	}
	for _, c := range cases {
		n, err := ParseCount(c.text)
		if err != nil {
			t.Fatalf("%s: %v", c.text, err)
		}
		for _, v := range c.in {
			if !n.Match(v) {
				t.Errorf("%s does not match %d", c.text, v)
			}
		}
		for _, v := range c.out {
			if n.Match(v) {
				t.Errorf("%s matches %d", c.text, v)
			}
		}
		if n.String() != c.readable {
			t.Errorf("%s reads %q, want %q", c.text, n.String(), c.readable)
		}
		// Its JSON is its syntax again.
		b, _ := n.MarshalJSON()
		var back Count
		if err := back.UnmarshalJSON(b); err != nil || back != n {
			t.Errorf("%s: round trip through %s gave %+v, %v", c.text, b, back, err)
		}
	}
	for _, bad := range []string{"", "x", "-1", "3..1", "<0", "1.5", ">=-2"} {
		if _, err := ParseCount(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
