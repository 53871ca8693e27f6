package avalanchego_test

import (
	"bytes"
	"sync"
)

// syncBuffer is a bytes.Buffer safe for the plugin's output goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
