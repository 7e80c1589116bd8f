// Package compare scores other redactors on the labelled corpus of
// package redact: gitleaks' maintained secret rules and the redactor of
// before issue #13. It is a module of its own so that gitleaks and its
// dependencies stay out of hogpipe's go.mod; run it with make
// redact-report.
package compare
