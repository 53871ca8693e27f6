// Package page is the pagination helper of the hypervisor fake.
//
// Lists are ordered by a stable Key (creation sequence, then id). A page token
// is opaque to clients: base64url of the Key of the last item returned. The
// next page starts at the first item whose Key is greater than the token's,
// so a page walk survives concurrent inserts (new items get higher sequence
// numbers and appear at the end) and deletes (a deleted cursor item is simply
// skipped past) without duplicates or gaps.
//
// Page sizes follow the hypervisor.v1 API doc: 0 means DefaultSize (20);
// sizes above MaxSize (100) are clamped to MaxSize, not rejected; negative
// sizes and malformed tokens are InvalidArgument.
package page

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultSize is the page size used when a request sets 0.
const DefaultSize = 20

// MaxSize is the largest page; larger requests are clamped to it.
const MaxSize = 100

// tokenPrefix versions the token format so a future change fails cleanly.
const tokenPrefix = "p1:"

// Key orders items: creation sequence first, id second.
type Key struct {
	Seq uint64
	ID  string
}

// Compare returns -1, 0 or +1 as k sorts before, with or after o.
func (k Key) Compare(o Key) int {
	switch {
	case k.Seq < o.Seq:
		return -1
	case k.Seq > o.Seq:
		return 1
	}
	return strings.Compare(k.ID, o.ID)
}

// Size turns a requested page size into the size to use.
func Size(requested int32) (int, error) {
	switch {
	case requested < 0:
		return 0, status.Errorf(codes.InvalidArgument, "page_size %d is negative", requested)
	case requested == 0:
		return DefaultSize, nil
	case requested > MaxSize:
		return MaxSize, nil
	}
	return int(requested), nil
}

// Encode makes the opaque token that resumes after k.
func Encode(k Key) string {
	raw := tokenPrefix + strconv.FormatUint(k.Seq, 10) + ":" + k.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// Decode parses a token made by Encode. Anything else is InvalidArgument.
func Decode(token string) (Key, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Key{}, status.Errorf(codes.InvalidArgument, "malformed page_token %q: %v", token, err)
	}
	rest, ok := strings.CutPrefix(string(raw), tokenPrefix)
	if !ok {
		return Key{}, status.Errorf(codes.InvalidArgument, "malformed page_token %q: unknown format", token)
	}
	seqText, id, ok := strings.Cut(rest, ":")
	if !ok || id == "" {
		return Key{}, status.Errorf(codes.InvalidArgument, "malformed page_token %q: no id", token)
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return Key{}, status.Errorf(codes.InvalidArgument, "malformed page_token %q: bad sequence: %v", token, err)
	}
	return Key{Seq: seq, ID: id}, nil
}

// Sort orders items by key, in place.
func Sort[T any](items []T, key func(T) Key) {
	slices.SortFunc(items, func(a, b T) int { return key(a).Compare(key(b)) })
}

// Slice returns one page of sorted (ascending by key) items: up to size
// items after the token's key (from the start when token is ""), and the
// token for the next page ("" when this page reaches the end).
func Slice[T any](sorted []T, key func(T) Key, pageSize int32, token string) ([]T, string, error) {
	size, err := Size(pageSize)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if token != "" {
		after, err := Decode(token)
		if err != nil {
			return nil, "", err
		}
		start, _ = slices.BinarySearchFunc(sorted, after, func(item T, k Key) int { return key(item).Compare(k) })
		if start < len(sorted) && key(sorted[start]).Compare(after) == 0 {
			start++
		}
	}
	end := min(start+size, len(sorted))
	out := sorted[start:end]
	next := ""
	if end < len(sorted) && len(out) > 0 {
		next = Encode(key(out[len(out)-1]))
	}
	return out, next, nil
}
