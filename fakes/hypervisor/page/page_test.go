package page

import (
	"encoding/base64"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type item struct {
	seq uint64
	id  string
}

func keyOf(i item) Key { return Key{Seq: i.seq, ID: i.id} }

func makeItems(n int) []item {
	out := make([]item, n)
	for i := range out {
		out[i] = item{seq: uint64(i + 1), id: fmt.Sprintf("it-%04d", i)}
	}
	return out
}

func TestSize(t *testing.T) {
	tests := []struct {
		in      int32
		want    int
		errCode codes.Code
	}{
		{0, DefaultSize, codes.OK},
		{1, 1, codes.OK},
		{100, 100, codes.OK},
		{101, MaxSize, codes.OK},
		{1 << 30, MaxSize, codes.OK},
		{-1, 0, codes.InvalidArgument},
	}
	for _, tc := range tests {
		got, err := Size(tc.in)
		if status.Code(err) != tc.errCode || got != tc.want {
			t.Errorf("Size(%d) = %d, %v; want %d, code %v", tc.in, got, err, tc.want, tc.errCode)
		}
	}
}

func TestTokenRoundTrip(t *testing.T) {
	for _, k := range []Key{{1, "a"}, {0, "x:y:z"}, {1<<64 - 1, "node-ü"}} {
		got, err := Decode(Encode(k))
		if err != nil || got != k {
			t.Errorf("Decode(Encode(%v)) = %v, %v", k, got, err)
		}
	}
}

func TestMalformedTokens(t *testing.T) {
	bad := []string{
		"!!!",                            // not base64
		Encode(Key{1, "a"})[:3] + "$",    // corrupted
		b64("p2:1:a"),                    // unknown version
		b64("p1:1"),                      // no id
		b64("p1:x:a"),                    // bad sequence
		b64("p1:-1:a"),                   // negative sequence
		b64("p1:99999999999999999999:a"), // overflow
	}
	for _, tok := range bad {
		if _, _, err := Slice(makeItems(3), keyOf, 2, tok); status.Code(err) != codes.InvalidArgument {
			t.Errorf("Slice with token %q: err %v, want InvalidArgument", tok, err)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestWalk(t *testing.T) {
	tests := []struct {
		n, size   int
		wantPages int
	}{
		{0, 0, 1},
		{1, 0, 1},
		{20, 0, 1},
		{21, 0, 2},
		{250, 100, 3},
		{250, 1000, 3}, // clamped to 100
		{7, 3, 3},
	}
	for _, tc := range tests {
		items := makeItems(tc.n)
		var got []item
		pages := 0
		tok := ""
		for {
			p, next, err := Slice(items, keyOf, int32(tc.size), tok)
			if err != nil {
				t.Fatalf("n=%d size=%d: %v", tc.n, tc.size, err)
			}
			pages++
			got = append(got, p...)
			if next == "" {
				break
			}
			tok = next
		}
		if pages != tc.wantPages || len(got) != tc.n {
			t.Errorf("n=%d size=%d: %d pages, %d items; want %d pages, %d items", tc.n, tc.size, pages, len(got), tc.wantPages, tc.n)
		}
		for i := range got {
			if got[i] != items[i] {
				t.Fatalf("n=%d size=%d: item %d = %v, want %v", tc.n, tc.size, i, got[i], items[i])
			}
		}
	}
}

func TestCursorItemDeleted(t *testing.T) {
	items := makeItems(10)
	p, next, err := Slice(items, keyOf, 4, "")
	if err != nil || len(p) != 4 {
		t.Fatalf("first page: %v %v", p, err)
	}
	// Delete the last returned item and its successor: the walk resumes at the next survivor.
	rest := append(append([]item{}, items[:3]...), items[5:]...)
	p, _, err = Slice(rest, keyOf, 4, next)
	if err != nil || len(p) == 0 || p[0] != items[5] {
		t.Fatalf("after delete: first %v, err %v; want %v", p, err, items[5])
	}
}

// TestConcurrentInsertsDuringWalk walks a store while writers insert: every
// item present at the start is seen exactly once and in order.
func TestConcurrentInsertsDuringWalk(t *testing.T) {
	var mu sync.Mutex
	store := makeItems(500)
	initial := len(store)
	nextSeq := uint64(initial + 1)
	snapshot := func() []item {
		mu.Lock()
		defer mu.Unlock()
		return append([]item(nil), store...)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 300 { // bounded, so the walk reaches the end
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				store = append(store, item{seq: nextSeq, id: fmt.Sprintf("w%d-%d", w, i)})
				nextSeq++
				mu.Unlock()
			}
		})
	}
	seen := map[string]int{}
	var last Key
	tok := ""
	for {
		p, next, err := Slice(snapshot(), keyOf, 7, tok)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range p {
			if keyOf(it).Compare(last) <= 0 {
				t.Fatalf("out of order: %v after %v", it, last)
			}
			last = keyOf(it)
			seen[it.id]++
		}
		if next == "" {
			break
		}
		tok = next
	}
	close(stop)
	wg.Wait()
	for _, it := range makeItems(initial) {
		if seen[it.id] != 1 {
			t.Errorf("item %s seen %d times", it.id, seen[it.id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("item %s seen %d times", id, n)
		}
	}
}

func TestSortStable(t *testing.T) {
	items := []item{{2, "b"}, {1, "z"}, {2, "a"}}
	Sort(items, keyOf)
	want := []item{{1, "z"}, {2, "a"}, {2, "b"}}
	for i := range want {
		if items[i] != want[i] {
			t.Fatalf("Sort = %v, want %v", items, want)
		}
	}
}
