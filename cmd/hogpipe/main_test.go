package main

import (
	"fmt"
	"os"
	"testing"
)

// binDir holds the binaries the tests build (buildBinary); it is removed
// when the tests end, so runs do not leave 25 MB binaries in the temp
// directory.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hogpipe-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
