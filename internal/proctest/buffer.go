package proctest

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that the goroutines of a server (or a child
// process's output copier) and the test may share: a log to read while
// it is written.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is what has been written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
