package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// service is spec as the cluster keeps it, with a status of every kind.
func service(spec ServiceSpec, replicas int) *Service {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	return &Service{
		Name: spec.Name, Namespace: spec.Namespace, Revision: 3, Replicas: replicas,
		RunningReplicas: replicas, ReadyReplicas: replicas - 1, Strategy: spec.Rollout.Strategy,
		VIP: "127.64.0.9", Unplaced: 1, PlacementFailure: "insufficient memory on 3 nodes",
		Autoscaled: &AutoscaleChange{Time: now, From: 2, To: replicas, Reason: "rps 90 per replica"},
		Health:     "crash-looping", HealthMessage: "2 failures in 1m",
		Spec: spec, CreateTime: now, ModifyTime: now.Add(time.Minute), CreateIndex: 7, ModifyIndex: 42,
	}
}

// What get prints, as JSON or YAML, applies again as the spec the cluster
// keeps, with the desired replica count: the status is accepted and ignored.
func TestServiceDocumentRoundTrips(t *testing.T) {
	for name, spec := range defaultedSpecs(t) {
		svc := service(spec, 5)
		want := spec
		want.Replicas = ptr(5)

		data, err := json.Marshal(svc.Document())
		if err != nil {
			t.Fatalf("%s: marshal: %v", name, err)
		}
		back, err := DecodeServiceJSON("round trip", data)
		if err != nil {
			t.Fatalf("%s: DecodeServiceJSON %s: %v", name, data, err)
		}
		if !reflect.DeepEqual(back, want) {
			t.Errorf("%s: JSON round trip\n got %+v\nwant %+v\njson %s", name, back, want, data)
		}

		y, err := yaml.JSONToYAML(data)
		if err != nil {
			t.Fatalf("%s: to YAML: %v", name, err)
		}
		specs, err := DecodeServices("web.yaml", y)
		if err != nil {
			t.Fatalf("%s: decode YAML:\n%s\n%v", name, y, err)
		}
		if !reflect.DeepEqual(specs[0], want) {
			t.Errorf("%s: YAML round trip\n got %+v\nwant %+v\nyaml:\n%s", name, specs[0], want, y)
		}
	}
}

// get services -o json prints a list of documents; apply takes it whole.
func TestServiceDocumentListRoundTrips(t *testing.T) {
	web := decodeOne(t, minimalDoc)
	other := decodeOne(t, "kind: Service\nname: api\nimage: demo\nreplicas: 2\n")
	data, err := json.Marshal([]ServiceDocument{service(web, 1).Document(), service(other, 4).Document()})
	if err != nil {
		t.Fatal(err)
	}
	specs, err := DecodeServices("all.json", data)
	if err != nil {
		t.Fatalf("DecodeServices %s: %v", data, err)
	}
	if len(specs) != 2 || specs[0].Name != "web" || specs[0].ReplicaCount() != 1 || specs[1].Name != "api" || specs[1].ReplicaCount() != 4 {
		t.Fatalf("decoded %+v, want web with 1 replica and api with 4", specs)
	}
}

// The document's fields are the spec's at the top, then status: every
// field of the service that is not spec, and nothing of it at the top.
func TestServiceDocumentKeepsStatusApart(t *testing.T) {
	data, err := json.Marshal(service(decodeOne(t, minimalDoc), 3).Document())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"revision", "vip", "createIndex", "modifyIndex", "readyReplicas", "autoscaled", "spec"} {
		if _, ok := doc[key]; ok {
			t.Errorf("%s at the top of the document, want it under status only", key)
		}
	}
	var status map[string]any
	if err := json.Unmarshal(doc["status"], &status); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"revision", "runningReplicas", "readyReplicas", "vip", "health", "healthMessage",
		"unplaced", "placementFailure", "autoscaled", "createTime", "modifyTime", "createIndex", "modifyIndex"} {
		if _, ok := status[key]; !ok {
			t.Errorf("status has no %s: %s", key, doc["status"])
		}
	}
	if string(doc["kind"]) != `"Service"` || string(doc["replicas"]) != "3" {
		t.Errorf("kind %s, replicas %s; want \"Service\" and 3", doc["kind"], doc["replicas"])
	}
}

func TestDecodeIgnoresStatus(t *testing.T) {
	for name, doc := range map[string]string{
		"as printed":            minimalDoc + "status: {revision: 3, vip: 127.64.0.1, createIndex: 7}\n",
		"fields of another day": minimalDoc + "status: {revision: [1, 2], phase: {what: ever}}\n",
		"null":                  minimalDoc + "status:\n",
		"empty":                 minimalDoc + "status: {}\n",
		"first":                 "status: {revision: 1}\n" + minimalDoc,
	} {
		t.Run(name, func(t *testing.T) {
			if got, want := decodeOne(t, doc), decodeOne(t, minimalDoc); !reflect.DeepEqual(got, want) {
				t.Errorf("decoded %+v, want %+v", got, want)
			}
		})
	}
	spec, err := DecodeServiceJSON("request", []byte(`{"kind": "Service", "name": "web", "image": "demo", "status": {"revision": 9}}`))
	if err != nil || spec.Name != "web" {
		t.Fatalf("DecodeServiceJSON with a status: %+v, %v", spec, err)
	}
}

// Only the document's own status is ignored, and only when it is an
// object: everything else stays strict.
func TestDecodeStatusIsStrictElsewhere(t *testing.T) {
	for _, tc := range []struct {
		name, doc, field, message string
	}{
		{"not an object", minimalDoc + "status: running\n", "spec.status", "must be an object"},
		{"a list", minimalDoc + "status: [1]\n", "spec.status", "must be an object"},
		{"twice", minimalDoc + "status: {}\nstatus: {}\n", "spec.status", "duplicate key"},
		{"status fields at the top", minimalDoc + "status: {}\ncreateIndex: 7\n", "spec.createIndex", "unknown field"},
		{"nested", minimalDoc + "resources: {cpu: 1, status: ok}\n", "spec.resources.status", "unknown field"},
		{"and the spec still checked", "kind: Service\nname: web\nimage: demo\nreplicas: -1\nstatus: {}\n", "spec.replicas", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeServices("web.yaml", []byte(tc.doc))
			wantFieldError(t, err, "web.yaml", tc.field, tc.message)
		})
	}
	_, err := DecodeServiceJSON("request", []byte(`{"kind": "Service", "name": "web", "image": "demo", "status": 3}`))
	wantFieldError(t, err, "request", "spec.status", "must be an object")
}
