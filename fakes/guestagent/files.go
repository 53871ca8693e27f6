package guestagent

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// upload is a file transfer in progress: file_begin, file_chunk…, file_end.
type upload struct {
	path     string // target, relative to the root
	tmp      string // temporary name in the same directory
	f        *os.File
	size     int64
	want     string // hex sha256
	received int64
	nextSeq  int64
	h        hash.Hash
}

// checkRoot reports why file commands cannot run, or nil.
func (s *session) checkRoot(cmd string) reply {
	switch {
	case s.a.opts.Root == "":
		return errReply("%s: file transfer disabled (agent has no root directory)", cmd)
	case s.rootErr != nil:
		return errReply("%s: open root: %v", cmd, s.rootErr)
	}
	return nil
}

// localPath validates a request path: relative, inside the root.
func localPath(cmd, p string) (string, reply) {
	if p == "" {
		return "", errReply("%s: missing path", cmd)
	}
	clean := filepath.Clean(filepath.FromSlash(p))
	if !filepath.IsLocal(clean) {
		return "", errReply("%s: path %q escapes the agent root", cmd, clip([]byte(p)))
	}
	return clean, nil
}

func (s *session) fileBegin(r *request) reply {
	if e := s.checkRoot("file_begin"); e != nil {
		return e
	}
	if s.upload != nil {
		return errReply("file_begin: transfer of %s already in progress (send file_end or file_abort)", s.upload.path)
	}
	p, e := localPath("file_begin", r.Path)
	if e != nil {
		return e
	}
	if r.Size == nil || *r.Size < 0 {
		return errReply("file_begin: size must be given and not negative")
	}
	if *r.Size > s.a.opts.MaxFileSize {
		return errReply("file_begin: size %d exceeds the limit of %d bytes", *r.Size, s.a.opts.MaxFileSize)
	}
	if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != sha256.Size {
		return errReply("file_begin: sha256 must be 64 hex digits")
	}
	if dir := filepath.Dir(p); dir != "." {
		if err := s.root.MkdirAll(dir, 0o755); err != nil {
			return errReply("file_begin: %v", err)
		}
	}
	tmp := filepath.Join(filepath.Dir(p), fmt.Sprintf(".%s.part-%d", filepath.Base(p), uploadSeq.Add(1)))
	f, err := s.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return errReply("file_begin: %v", err)
	}
	s.upload = &upload{path: p, tmp: tmp, f: f, size: *r.Size, want: r.SHA256, h: sha256.New()}
	return reply{"result": map[string]any{"state": "ready", "chunk_max": DefaultChunkMax}}
}

func (s *session) fileChunk(r *request) reply {
	u := s.upload
	if u == nil {
		return errReply("file_chunk: no file transfer in progress (send file_begin first)")
	}
	if r.Seq == nil || *r.Seq != u.nextSeq {
		return errReply("file_chunk: want seq %d", u.nextSeq)
	}
	if r.Data == nil {
		return errReply("file_chunk: missing data")
	}
	b, err := base64.StdEncoding.DecodeString(*r.Data)
	if err != nil {
		return errReply("file_chunk: data is not base64: %v", err)
	}
	if len(b) > DefaultChunkMax {
		return errReply("file_chunk: %d bytes exceed chunk_max %d", len(b), DefaultChunkMax)
	}
	if u.received+int64(len(b)) > u.size {
		return errReply("file_chunk: %d more bytes exceed the announced size %d", len(b), u.size)
	}
	if _, err := u.f.Write(b); err != nil {
		s.fileAbort()
		return errReply("file_chunk: write: %v (transfer aborted)", err)
	}
	u.h.Write(b)
	u.received += int64(len(b))
	u.nextSeq++
	return reply{"result": map[string]any{"seq": *r.Seq, "received": u.received}}
}

func (s *session) fileEnd() reply {
	u := s.upload
	if u == nil {
		return errReply("file_end: no file transfer in progress")
	}
	if u.received != u.size {
		s.fileAbort()
		return errReply("file_end: received %d of %d bytes (transfer aborted)", u.received, u.size)
	}
	got := hex.EncodeToString(u.h.Sum(nil))
	if got != u.want && s.a.opts.Fault != FaultBadChecksum {
		s.fileAbort()
		return errReply("file_end: checksum mismatch for %s: got %s, want %s (file discarded)", u.path, got, u.want)
	}
	s.upload = nil
	if err := u.f.Close(); err != nil {
		s.root.Remove(u.tmp)
		return errReply("file_end: close: %v", err)
	}
	if err := s.root.Rename(u.tmp, u.path); err != nil {
		s.root.Remove(u.tmp)
		return errReply("file_end: %v", err)
	}
	return reply{"result": map[string]any{"path": filepath.ToSlash(u.path), "size": u.size, "sha256": got}}
}

func (s *session) fileAbort() reply {
	u := s.upload
	if u == nil {
		return reply{"result": "nothing to abort"}
	}
	s.upload = nil
	u.f.Close()
	s.root.Remove(u.tmp)
	return reply{"result": "aborted"}
}

func (s *session) fileStat(r *request) reply {
	f, info, e := s.openRead("file_stat", r.Path)
	if e != nil {
		return e
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return errReply("file_stat: %v", err)
	}
	return reply{"result": map[string]any{"path": path.Clean(r.Path), "size": info.Size(), "sha256": hex.EncodeToString(h.Sum(nil))}}
}

func (s *session) fileRead(r *request) reply {
	if r.Length < 0 || r.Offset < 0 {
		return errReply("file_read: offset and length must not be negative")
	}
	n := r.Length
	if n == 0 || n > DefaultChunkMax {
		n = DefaultChunkMax
	}
	f, info, e := s.openRead("file_read", r.Path)
	if e != nil {
		return e
	}
	defer f.Close()
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, r.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return errReply("file_read: %v", err)
	}
	if s.a.opts.Fault == FaultReadCorrupt && got > 0 {
		buf[0] ^= 1
	}
	eof := r.Offset+int64(got) >= info.Size()
	return reply{"result": map[string]any{"data": base64.StdEncoding.EncodeToString(buf[:got]), "offset": r.Offset, "eof": eof, "size": info.Size()}}
}

func (s *session) openRead(cmd, p string) (*os.File, fs.FileInfo, reply) {
	if e := s.checkRoot(cmd); e != nil {
		return nil, nil, e
	}
	lp, e := localPath(cmd, p)
	if e != nil {
		return nil, nil, e
	}
	f, err := s.root.Open(lp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, errReply("%s: %s: no such file", cmd, clip([]byte(p)))
	}
	if err != nil {
		return nil, nil, errReply("%s: %v", cmd, err)
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, errReply("%s: %s is not a regular file", cmd, clip([]byte(p)))
	}
	return f, info, nil
}

func (s *session) fileDelete(r *request) reply {
	if e := s.checkRoot("file_delete"); e != nil {
		return e
	}
	lp, e := localPath("file_delete", r.Path)
	if e != nil {
		return e
	}
	info, err := s.root.Lstat(lp)
	if errors.Is(err, fs.ErrNotExist) {
		return errReply("file_delete: %s: no such file", clip([]byte(r.Path)))
	}
	if err != nil {
		return errReply("file_delete: %v", err)
	}
	if !info.Mode().IsRegular() {
		return errReply("file_delete: %s is not a regular file", clip([]byte(r.Path)))
	}
	if err := s.root.Remove(lp); err != nil {
		return errReply("file_delete: %v", err)
	}
	return reply{"result": "deleted"}
}
