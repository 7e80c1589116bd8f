package server

import (
	"io"
	"net/http"
	"time"
)

// deadlineWriter pushes the connection's write deadline out before each
// piece of a long response (an export), so the server's write timeout
// bounds a stalled client — one that takes in nothing for about that
// long — and not a slow one that keeps reading a large download.
type deadlineWriter struct {
	w        io.Writer
	rc       *http.ResponseController
	timeout  time.Duration
	extended time.Time
	failed   bool
}

// deadlinePiece is the most written under one deadline: the exports hand
// over 1 MiB at a time, which a slow reader may take longer than the
// timeout to drain.
const deadlinePiece = 64 << 10

func newDeadlineWriter(w http.ResponseWriter, timeout time.Duration) io.Writer {
	if timeout <= 0 {
		return w
	}
	return &deadlineWriter{w: w, rc: http.NewResponseController(w), timeout: timeout}
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		piece := p[:min(len(p), deadlinePiece)]
		// Setting a deadline arms a timer; renewing it when a quarter of
		// the timeout has passed leaves every piece at least 3/4 of it.
		if now := time.Now(); !d.failed && now.Sub(d.extended) > d.timeout/4 {
			if err := d.rc.SetWriteDeadline(now.Add(d.timeout)); err != nil {
				d.failed = true // this writer cannot: the server's timeout stays
			}
			d.extended = now
		}
		n, err := d.w.Write(piece)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}
