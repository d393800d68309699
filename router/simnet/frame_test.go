package simnet

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestReadFrameLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"zero length", []byte{0, 0, 0, 0}},
		{"too long", binary.BigEndian.AppendUint32(nil, MaxFrame+1)},
		{"truncated", append(binary.BigEndian.AppendUint32(nil, 10), '{')},
		{"not json", append(binary.BigEndian.AppendUint32(nil, 3), "abc"...)},
		{"no op", append(binary.BigEndian.AppendUint32(nil, 8), `{"id":1}`...)},
	} {
		if _, err := readFrame(bytes.NewReader(tc.in)); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`{"id":1,"op":"hello","version":1,"name":"r1"}`))
	f.Add([]byte(`{"id":2,"resp":true,"tunnel":{"id":5,"inbound":true,"hops":[]}}`))
	f.Add([]byte(`{"id":3,"op":"deliver","delivery":{"payload":"AAEC"}}`))
	f.Add([]byte(`{"id":4,"op":"ep_send","dest":"AAEC","payload":"AAEC"}`))
	f.Add([]byte(`{"id":5,"resp":true,"err":"x","code":"not_delivered","reason":"expired"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			return
		}
		if fr.Op == "" && !fr.Resp {
			t.Fatal("accepted a request without op")
		}
	})
}
