package guestagent

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// chunkSize is the decoded size of one file_chunk the suite sends.
const chunkSize = 32 << 10

func (s *suite) fileSpecs() {
	s.it("[GA-FILE-001] a file sent in chunks MUST arrive with the announced checksum, and file_read MUST return the same bytes", func(ctx SpecContext) {
		c := s.open(ctx)
		s.needFiles(ctx, c)
		data := payload(1, 40<<10)
		path := fmt.Sprintf("ga-conformance-%d-small.bin", rand.Uint32())
		end := s.sendFile(ctx, c, path, data, sha(data))
		Expect(end).NotTo(HaveKey("error"), "file_end of %d bytes", len(data))
		Expect(readBack(ctx, c, path)).To(Equal(data), "bytes read back from %s", path)
	})

	s.it("[GA-FILE-002] file_end MUST reject a checksum mismatch and MUST NOT keep the file", func(ctx SpecContext) {
		c := s.open(ctx)
		s.needFiles(ctx, c)
		data := payload(2, 10<<10)
		path := fmt.Sprintf("ga-conformance-%d-bad.bin", rand.Uint32())
		end := s.sendFile(ctx, c, path, data, sha([]byte("something else")))
		Expect(end).To(HaveKeyWithValue("error", ContainSubstring("checksum")), "file_end after a wrong sha256")
		st := c.mustCall(ctx, map[string]any{"command": "file_stat", "path": path})
		Expect(st).To(HaveKey("error"), "file_stat of %s after a rejected transfer: the file was kept", path)
		Expect(c.mustCall(ctx, map[string]any{"command": "ping"})).To(HaveKeyWithValue("result", "pong"), "ping after a rejected transfer")
	})

	s.it("[GA-FILE-003] file paths MUST stay confined to the agent's root", func(ctx SpecContext) {
		c := s.open(ctx)
		s.needFiles(ctx, c)
		sum := sha([]byte("x"))
		for _, p := range []string{"../escape.bin", "/etc/passwd", "a/../../escape.bin"} {
			r := c.mustCall(ctx, map[string]any{"command": "file_begin", "path": p, "size": 1, "sha256": sum})
			Expect(r).To(HaveKey("error"), "file_begin of %q outside the root was accepted", p)
			r = c.mustCall(ctx, map[string]any{"command": "file_read", "path": p})
			Expect(r).To(HaveKey("error"), "file_read of %q outside the root was accepted", p)
		}
	})

	s.it("[GA-FILE-004] a 256 KiB file MUST pass through chunks intact", func(ctx SpecContext) {
		c := s.open(ctx)
		s.needFiles(ctx, c)
		data := payload(4, 256<<10)
		path := fmt.Sprintf("ga-conformance-%d-large.bin", rand.Uint32())
		end := s.sendFile(ctx, c, path, data, sha(data))
		Expect(end).NotTo(HaveKey("error"), "file_end of %d bytes", len(data))
		res, _ := end["result"].(map[string]any)
		Expect(res).To(HaveKeyWithValue("sha256", sha(data)), "checksum file_end reports")
		back := readBack(ctx, c, path)
		Expect(len(back)).To(Equal(len(data)), "size read back")
		Expect(bytes.Equal(back, data)).To(BeTrue(), "bytes read back differ from the bytes sent")
	})
}

func (s *suite) needFiles(ctx SpecContext, c *conn) {
	GinkgoHelper()
	caps := s.caps(ctx, c)
	if caps["files"] != true || !offers(caps, "file_begin") {
		skip("agent does not offer file transfer (hello: files=false or no file_begin; start it with a root directory)")
	}
}

// sendFile uploads data in chunks and returns file_end's reply.
func (s *suite) sendFile(ctx SpecContext, c *conn, path string, data []byte, sum string) map[string]any {
	GinkgoHelper()
	r := c.mustCall(ctx, map[string]any{"command": "file_begin", "path": path, "size": len(data), "sha256": sum})
	Expect(r).NotTo(HaveKey("error"), "file_begin %s (%d bytes)", path, len(data))
	DeferCleanup(func(ctx SpecContext) {
		if offers(s.cachedCaps(), "file_delete") {
			_, _ = c.call(ctx, map[string]any{"command": "file_delete", "path": path})
		}
	})
	for seq, off := 0, 0; off < len(data); seq++ {
		n := min(chunkSize, len(data)-off)
		r := c.mustCall(ctx, map[string]any{"command": "file_chunk", "seq": seq, "data": base64.StdEncoding.EncodeToString(data[off : off+n])})
		Expect(r).NotTo(HaveKey("error"), "file_chunk %d (bytes %d..%d)", seq, off, off+n)
		off += n
	}
	return c.mustCall(ctx, map[string]any{"command": "file_end"})
}

// readBack reads path with file_read until eof.
func readBack(ctx SpecContext, c *conn, path string) []byte {
	GinkgoHelper()
	var out []byte
	for {
		r := c.mustCall(ctx, map[string]any{"command": "file_read", "path": path, "offset": len(out), "length": chunkSize})
		Expect(r).NotTo(HaveKey("error"), "file_read %s at %d", path, len(out))
		res, _ := r["result"].(map[string]any)
		b, err := base64.StdEncoding.DecodeString(fmt.Sprint(res["data"]))
		must(err, "file_read data at %d is not base64", len(out))
		out = append(out, b...)
		if res["eof"] == true {
			return out
		}
		Expect(b).NotTo(BeEmpty(), "file_read at %d returned no bytes and no eof", len(out))
	}
}

func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
