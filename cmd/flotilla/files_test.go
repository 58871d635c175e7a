package main

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"flotilla/api"
)

// A config printed by get -o yaml or json is a document apply takes back.
func TestAConfigDocumentAppliesBack(t *testing.T) {
	cfg := &api.Config{Name: "app", Namespace: "shop", Data: map[string]string{"level": "2", "motd": "hello\nworld"},
		Hash: "h1", CreateTime: time.Unix(1, 0).UTC(), ModifyTime: time.Unix(2, 0).UTC(), CreateIndex: 3, ModifyIndex: 4}
	for _, format := range []string{"yaml", "json"} {
		var out bytes.Buffer
		if err := printObject(&out, format, configDocuments([]*api.Config{cfg})[0]); err != nil {
			t.Fatal(err)
		}
		docs, err := api.DecodeDocuments("get -o "+format, out.Bytes())
		if err != nil || len(docs) != 1 || docs[0].File == nil {
			t.Fatalf("%s: %v %+v\n%s", format, err, docs, out.String())
		}
		f := docs[0].File
		if f.Kind != api.KindConfig || f.Metadata.Name != "app" || f.Metadata.Namespace != "shop" || !reflect.DeepEqual(f.Data, cfg.Data) {
			t.Errorf("%s: applied back as %+v", format, f)
		}
	}
}
