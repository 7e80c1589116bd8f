// Package noop is the no-op baseline of the load tests: a net/http handler
// that reads the body and answers like hogpipe does, doing nothing else.
// bench/noop serves it for wrk and "hogpipe bench" serves it in process, so
// both baselines measure the same thing.
package noop

import (
	"io"
	"net/http"
)

// response is shaped like hogpipe's answer to an accepted event, so the
// baseline writes as many bytes as the server it is compared with.
var response = []byte(`{"status":"ok","id":"x","duplicate":false}` + "\n")

// Handler drains the request body and answers 200 with a JSON body.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(response)
	})
}
