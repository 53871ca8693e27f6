package replay

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/ava-labs/avalanchego/ids"
	"google.golang.org/protobuf/proto"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
)

const (
	buildBlockMethod = "/vm.VM/BuildBlock"
	parseBlockMethod = "/vm.VM/ParseBlock"
)

// timeEncoding is one way a block may carry its timestamp in its bytes.
type timeEncoding struct {
	name   string
	encode func(time.Time) []byte
}

func be64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
func le64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

// timeEncodings: Unix seconds, milliseconds and nanoseconds as 8 bytes
// either way round (avalanchego's codec, xsvm and refvm use big-endian
// seconds), as decimal text, and RFC 3339 text (JSON-encoded blocks).
var timeEncodings = []timeEncoding{
	{"8-byte big-endian Unix seconds", func(t time.Time) []byte { return be64(t.Unix()) }},
	{"8-byte big-endian Unix milliseconds", func(t time.Time) []byte { return be64(t.UnixMilli()) }},
	{"8-byte big-endian Unix nanoseconds", func(t time.Time) []byte { return be64(t.UnixNano()) }},
	{"8-byte little-endian Unix seconds", func(t time.Time) []byte { return le64(t.Unix()) }},
	{"8-byte little-endian Unix milliseconds", func(t time.Time) []byte { return le64(t.UnixMilli()) }},
	{"8-byte little-endian Unix nanoseconds", func(t time.Time) []byte { return le64(t.UnixNano()) }},
	{"decimal Unix seconds", func(t time.Time) []byte { return strconv.AppendInt(nil, t.Unix(), 10) }},
	{"decimal Unix milliseconds", func(t time.Time) []byte { return strconv.AppendInt(nil, t.UnixMilli(), 10) }},
	{"decimal Unix nanoseconds", func(t time.Time) []byte { return strconv.AppendInt(nil, t.UnixNano(), 10) }},
	{"RFC 3339 text", func(t time.Time) []byte { return []byte(t.UTC().Format(time.RFC3339Nano)) }},
}

// timeOnly decides whether a replayed BuildBlock answer differs from the
// recorded one only in what depends on the wall clock. It does when
//   - both name the same parent, height and verify_with_context,
//   - their timestamps differ, and
//   - the replayed bytes become the recorded bytes, byte for byte, when
//     every occurrence of the replayed timestamp, in one of timeEncodings,
//     is replaced by the recorded timestamp in the same encoding.
//
// The id is not compared: it is a hash of the bytes. It returns the
// encoding found, or why the difference is more than time.
func timeOnly(rec, got *vmpb.BuildBlockResponse) (encoding string, why string) {
	switch {
	case !bytes.Equal(rec.GetParentId(), got.GetParentId()):
		return "", "another parent"
	case rec.GetHeight() != got.GetHeight():
		return "", "another height"
	case rec.GetVerifyWithContext() != got.GetVerifyWithContext():
		return "", "another verify_with_context"
	case !rec.GetTimestamp().IsValid() || !got.GetTimestamp().IsValid():
		return "", "no valid timestamp"
	}
	rt, gt := rec.GetTimestamp().AsTime(), got.GetTimestamp().AsTime()
	if rt.Equal(gt) {
		return "", "the same timestamp"
	}
	for _, e := range timeEncodings {
		old, now := e.encode(gt), e.encode(rt)
		if bytes.Contains(got.GetBytes(), old) && bytes.Equal(bytes.ReplaceAll(got.GetBytes(), old, now), rec.GetBytes()) {
			return e.name, ""
		}
	}
	return "", "bytes that differ in more than the timestamp"
}

// adopt handles a replayed BuildBlock whose answer is not the recorded one.
// A block built at another time than recorded has another timestamp, hence
// other bytes and another id, and nothing the node did next in the
// recording would name it. When the difference is time only (timeOnly),
// the node proceeds as a real node does with a peer's block: it parses the
// recorded bytes, and every later recorded call (Verify, SetPreference,
// Accept on the recorded id, HTTP answers naming it) applies as recorded.
// That is a note, not a difference. It reports whether it compared the
// answer itself (time only); otherwise the caller compares field by field,
// then adopts the block returned in later (one with the recorded parent and
// height) so that the calls after it can be compared.
func (r *runner) adopt(ctx context.Context, c *recording.Call, got proto.Message) (compared bool, later *vmpb.BuildBlockResponse) {
	g, ok := got.(*vmpb.BuildBlockResponse)
	if !ok || c.Response == nil {
		return false, nil
	}
	m, err := recording.NewResponse(c.Method, c.Response)
	if err != nil {
		return false, nil
	}
	rec := m.(*vmpb.BuildBlockResponse)
	if proto.Equal(rec, g) {
		return false, nil
	}
	enc, why := timeOnly(rec, g)
	if why == "another parent" || why == "another height" {
		return false, nil // a difference, and no block to proceed with
	}
	recID, gotID := blockID(rec.GetId()), blockID(g.GetId())
	if enc == "" {
		r.note(c, "block %s differs from the recorded %s (%s); the recorded block is adopted (ParseBlock of its bytes) so later calls compare as recorded", gotID, recID, why)
		return false, rec
	}
	r.note(c, "block %s built at %s differs from the recorded %s (built at %s) only in its timestamp (%s): the recorded block is adopted (ParseBlock of its bytes) and the session goes on as recorded",
		gotID, stamp(g), recID, stamp(rec), enc)
	r.parseRecorded(ctx, c, rec)
	return true, nil
}

// parseRecorded gives the recorded block to the plugin and checks that it
// sees the block the recording names.
func (r *runner) parseRecorded(ctx context.Context, c *recording.Call, rec *vmpb.BuildBlockResponse) {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	resp := &vmpb.ParseBlockResponse{}
	if err := r.plugin.Conn.Invoke(cctx, parseBlockMethod, &vmpb.ParseBlockRequest{Bytes: rec.GetBytes()}, resp); err != nil {
		r.diffAs(c, parseBlockMethod, "code (adopting the recorded block)", "OK", err.Error())
		return
	}
	check := func(field string, want, got string) {
		if want != got {
			r.diffAs(c, parseBlockMethod, field+" (adopting the recorded block)", want, got)
		}
	}
	check("id", blockID(rec.GetId()), blockID(resp.GetId()))
	check("parent_id", blockID(rec.GetParentId()), blockID(resp.GetParentId()))
	check("height", strconv.FormatUint(rec.GetHeight(), 10), strconv.FormatUint(resp.GetHeight(), 10))
	check("timestamp", stamp(rec), stampOf(resp.GetTimestamp().AsTime(), resp.GetTimestamp().IsValid()))
}

func blockID(b []byte) string {
	id, err := ids.ToID(b)
	if err != nil {
		return fmt.Sprintf("%x", b)
	}
	return id.String()
}

func stamp(b *vmpb.BuildBlockResponse) string {
	return stampOf(b.GetTimestamp().AsTime(), b.GetTimestamp().IsValid())
}

func stampOf(t time.Time, valid bool) string {
	if !valid {
		return "(none)"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (r *runner) note(c *recording.Call, format string, args ...any) {
	r.report.Notes = append(r.report.Notes, fmt.Sprintf("seq %d %s: ", c.Seq, c.Method)+fmt.Sprintf(format, args...))
}
