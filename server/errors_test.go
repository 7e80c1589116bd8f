package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe"
)

// Every error code has exactly one status, and this table is the README's
// error table: a new code must be added to both.
func TestStatusOfEveryCode(t *testing.T) {
	want := map[string]int{
		hogpipe.EMalformed:         400,
		hogpipe.EBadParameter:      400,
		hogpipe.EUnauthorized:      401,
		hogpipe.EForbidden:         403,
		hogpipe.ECrossOrigin:       403,
		hogpipe.ENotFound:          404,
		hogpipe.EMethodNotAllowed:  405,
		hogpipe.ERejected:          406,
		hogpipe.EExpired:           410,
		hogpipe.ETooLarge:          413,
		hogpipe.EUnsupportedMedia:  415,
		hogpipe.EInvalid:           422,
		hogpipe.ERateLimited:       429,
		hogpipe.EClientConcurrency: 429,
		hogpipe.EInternal:          500,
		hogpipe.EUnavailable:       503,
		hogpipe.EOverloaded:        503,
		hogpipe.EMemoryBudget:      503,
		hogpipe.ENotReady:          503,
		hogpipe.EShuttingDown:      503,
	}
	codes := hogpipe.Codes()
	if len(codes) != len(want) {
		t.Errorf("hogpipe.Codes() has %d codes, this table %d: %v", len(codes), len(want), codes)
	}
	for _, code := range codes {
		st, ok := want[code]
		if !ok {
			t.Errorf("code %q has no expected status in this table", code)
			continue
		}
		if got := statusOf(code); got != st {
			t.Errorf("statusOf(%q) = %d, want %d", code, got, st)
		}
	}
	for code := range want {
		if !slices.Contains(codes, code) {
			t.Errorf("code %q is missing from hogpipe.Codes()", code)
		}
	}
	if got := statusOf("no_such_code"); got != http.StatusInternalServerError {
		t.Errorf("an unknown code answers %d, want 500", got)
	}
}

// No handler spells a code or an error status by hand: codes are the
// constants of error.go (never a string literal), and statuses of error
// answers come from statusOf. Read from the package's source, so a new
// handler that writes writeCode(w, "oops", …) or writeJSON(w, 400, …)
// fails here before it ships.
func TestNoHandWrittenCodes(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		literal := func(e ast.Expr) bool { _, ok := e.(*ast.BasicLit); return ok }
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				fn := ""
				switch f := n.Fun.(type) {
				case *ast.Ident:
					fn = f.Name
				case *ast.SelectorExpr:
					fn = f.Sel.Name
				}
				var code, status ast.Expr
				switch fn {
				case "writeCode", "setRejectReason":
					code = n.Args[1]
				case "fail":
					code = n.Args[0]
				case "Errorf":
					if x, ok := n.Fun.(*ast.SelectorExpr); ok && isIdent(x.X, "hogpipe") {
						code = n.Args[0]
					}
				case "writeJSON":
					status = n.Args[1]
					if name == "json.go" {
						status = nil // writeCode and writeError, which use statusOf
					}
				case "writePage", "WriteHeader":
					status = n.Args[len(n.Args)-2+boolInt(fn == "WriteHeader")]
				}
				if code != nil {
					checked++
					if literal(code) {
						t.Errorf("%s: %s with the literal code %s: use a constant from error.go", fset.Position(n.Pos()), fn, exprString(code))
					}
				}
				if status != nil {
					checked++
					if literal(status) || isErrorStatus(status) {
						t.Errorf("%s: %s with the status %s written by hand: use writeError or writeCode", fset.Position(n.Pos()), fn, exprString(status))
					}
				}
			case *ast.CompositeLit:
				if x, ok := n.Type.(*ast.SelectorExpr); ok && isIdent(x.X, "hogpipe") && x.Sel.Name == "Error" {
					for _, el := range n.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "Code") {
							checked++
							if literal(kv.Value) {
								t.Errorf("%s: hogpipe.Error with the literal code %s", fset.Position(n.Pos()), exprString(kv.Value))
							}
						}
					}
				}
			}
			return true
		})
	}
	// The scan must have found the calls it is about, or it checks nothing.
	if checked < 20 {
		t.Fatalf("checked only %d code or status expressions: the scan is looking in the wrong place", checked)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// isErrorStatus: http.StatusXxx for a status of 400 or more.
func isErrorStatus(e ast.Expr) bool {
	x, ok := e.(*ast.SelectorExpr)
	if !ok || !isIdent(x.X, "http") || !strings.HasPrefix(x.Sel.Name, "Status") {
		return false
	}
	for _, ok := range []string{"StatusOK", "StatusNoContent", "StatusCreated", "StatusAccepted", "StatusNotModified"} {
		if x.Sel.Name == ok {
			return false
		}
	}
	return true
}

func exprString(e ast.Expr) string {
	if l, ok := e.(*ast.BasicLit); ok {
		return l.Value
	}
	if x, ok := e.(*ast.SelectorExpr); ok {
		if id, ok := x.X.(*ast.Ident); ok {
			return id.Name + "." + x.Sel.Name
		}
	}
	return "an expression"
}
