// Package trainingfile is the training data: how a generation_failed
// event becomes a training example, the crash-safe training_data.jsonl
// that mirrors the stored examples one line each in commit order, and the
// exports that write the same lines elsewhere. What lives where:
//
//   - render.go: NewExample, the line's content (redaction, truncation,
//     pseudonym) under a hogpipe.TrainingPolicy; policy.go: that policy's
//     flags and its pseudonym key (the key itself: internal/secretkey).
//     The types (hogpipe.TrainingExample, ExampleLine, TrainingPolicy) and
//     the JSON line encoder (hogpipe.MarshalLine) are in the root package,
//     which every store and handler shares; the store renders at ingest and
//     in RewriteExamples (sqlstore/events.go, sqlstore/examples.go).
//   - mirror.go, adopt.go: the file mirror, its recovery after a crash,
//     adopting an existing file; writer.go: its one writer, behind a lease
//     the store's leader grants (takeover, lost-lock stop).
//   - import.go: importing another JSONL file (the original service's).
//   - export.go: the formats (FormatV1, FormatOriginal,
//     FormatClassification: the store's SQL fast paths switch on the same
//     constants), ExportWith, splits by id hash; request.go: ParseRequest,
//     the one parser of an export's options, which hogpipe export
//     (exportcli.go) and GET /api/training-data both use.
//   - commands.go: the work of hogpipe rebuild-training-file, import and
//     stats, which cmd/hogpipe only wires.
package trainingfile
