// Command noop is the baseline for bench/wrk.sh: a net/http server that
// reads the body and answers like hogpipe does, doing nothing else.
package main

import (
	"io"
	"net/http"
	"os"
)

func main() {
	addr := "127.0.0.1:3901"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok","id":"x","duplicate":false}` + "\n"))
	}))
}
