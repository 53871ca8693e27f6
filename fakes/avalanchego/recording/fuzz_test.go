package recording_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
)

// FuzzDecode: Decode never panics, and whatever it accepts survives
// Normalize and an Encode/Decode round trip. Seeds: testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(header + "\n" + `{"kind":"call","seq":1,"id":"vm#1","dir":"node->plugin","endpoint":"vm","method":"/vm.VM/Version","start_ns":1,"end_ns":2,"code":"OK","response":{"version":"v"}}` + "\n" + `{"kind":"end","end_ns":3,"exit":"exit status 0"}`))
	f.Add([]byte(header + "\n" + `{"kind":"call","seq":1,"id":"vm#1","dir":"node->plugin","endpoint":"vm","method":"/vm.VM/WaitForEvent","start_ns":1,"pending":true}`))
	f.Add([]byte(header))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := recording.Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := recording.Normalize(s).Encode(&buf); err != nil {
			t.Fatalf("encode: %v", err)
		}
		if _, err := recording.Decode(strings.NewReader(buf.String())); err != nil {
			t.Fatalf("normalised session does not decode: %v\n%s", err, buf.String())
		}
	})
}
