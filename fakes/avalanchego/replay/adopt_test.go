package replay

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// block encodes a toy block as xsvm and refvm do: parent, big-endian Unix
// seconds, height, payload.
func block(parent byte, ts time.Time, height uint64, payload string) *vmpb.BuildBlockResponse {
	b := append(bytes.Repeat([]byte{parent}, 32), be64(ts.Unix())...)
	b = binary.BigEndian.AppendUint64(b, height)
	b = append(b, payload...)
	return &vmpb.BuildBlockResponse{
		Id: bytes.Repeat([]byte{b[len(b)-1] ^ byte(ts.Unix())}, 32), ParentId: bytes.Repeat([]byte{parent}, 32),
		Bytes: b, Height: height, Timestamp: timestamppb.New(ts),
	}
}

func TestTimeOnly(t *testing.T) {
	rt := time.Date(2026, 12, 2, 7, 55, 41, 0, time.UTC)
	gt := rt.Add(3*time.Minute + 33*time.Second)
	rec := block(1, rt, 2, "tx")
	jsonBlock := func(ts time.Time) *vmpb.BuildBlockResponse {
		return &vmpb.BuildBlockResponse{ParentId: rec.ParentId, Height: 2, Timestamp: timestamppb.New(ts),
			Bytes: []byte(`{"parent":"p","time":"` + ts.Format(time.RFC3339Nano) + `","txs":["tx"]}`)}
	}
	for _, tc := range []struct {
		name     string
		rec, got *vmpb.BuildBlockResponse
		enc, why string
	}{
		{"only the timestamp", rec, block(1, gt, 2, "tx"), "8-byte big-endian Unix seconds", ""},
		{"JSON block", jsonBlock(rt), jsonBlock(gt), "RFC 3339 text", ""},
		{"another parent", rec, block(2, gt, 2, "tx"), "", "another parent"},
		{"another height", rec, block(1, gt, 3, "tx"), "", "another height"},
		{"another payload", rec, block(1, gt, 2, "ty"), "", "bytes that differ in more than the timestamp"},
		{"another payload, same second", rec, block(1, rt, 2, "ty"), "", "the same timestamp"},
		{"no timestamp", rec, &vmpb.BuildBlockResponse{ParentId: rec.ParentId, Height: 2}, "", "no valid timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, why := timeOnly(tc.rec, tc.got)
			if enc != tc.enc || why != tc.why {
				t.Fatalf("timeOnly = (%q, %q), want (%q, %q)", enc, why, tc.enc, tc.why)
			}
		})
	}
}
