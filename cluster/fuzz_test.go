package cluster

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeWire checks that no input makes decodeWire panic, and that
// what it accepts survives re-encoding unchanged.
func FuzzDecodeWire(f *testing.F) {
	f.Add([]byte(`{"i":"a","t":3000,"s":{"lobby":["ann","bob"]},"d":["ops"]}`))
	f.Add([]byte(`{"i":"b","b":true}`))
	f.Add([]byte(`{"i":"c","t":1,"s":{"k":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeWire(data)
		if err != nil {
			return
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", m, err)
		}
		m2, err := decodeWire(b)
		if err != nil {
			t.Fatalf("decode of re-encoded %s: %v", b, err)
		}
		if !reflect.DeepEqual(normalise(m), normalise(m2)) {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}

// normalise compacts the raw JSON values so formatting does not count.
func normalise(m wireMsg) wireMsg {
	for k, v := range m.Set {
		var x any
		if json.Unmarshal(v, &x) == nil {
			m.Set[k], _ = json.Marshal(x)
		}
	}
	if len(m.Set) == 0 {
		m.Set = nil
	}
	if len(m.Del) == 0 {
		m.Del = nil
	}
	return m
}
