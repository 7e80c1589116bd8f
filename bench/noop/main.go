// Command noop is the baseline for bench/wrk.sh: a net/http server that
// reads the body and answers like hogpipe does, doing nothing else (the
// handler of internal/noop, which "hogpipe bench" uses too).
package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/hogpipe/hogpipe/internal/noop"
)

func main() {
	addr := "127.0.0.1:3901"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	if err := http.ListenAndServe(addr, noop.Handler()); err != nil {
		fmt.Fprintln(os.Stderr, "noop:", err)
		os.Exit(1)
	}
}
