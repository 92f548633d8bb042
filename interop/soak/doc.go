// Package soak runs a traced function under load while its OTLP endpoint and
// its metadata server misbehave, and proves that nothing fails and nothing
// is lost silently.
//
// A real functions-framework-go server on loopback serves an HTTP function
// wrapped with handler.HTTP and a CloudEvent function wrapped with
// handler.CloudEvent. Each run builds the pipeline the way a function's init
// does, with wiring.New, against a fault-injecting OTLP endpoint and the
// metadatatest emulator, which plays a cold-start fault (hanging, or
// answering 500) before it recovers. A bounded load generator (a fixed
// number of requests and a time limit) then sends a steady rate of
// invocations plus bursts of concurrent ones while the endpoint cycles
// through its phases: healthy, refused, hanging, slow, 429 with
// Retry-After, a 503 storm, 413 on large requests, truncated answers,
// non-protobuf answers, 401 (the token is revoked), and healthy again with
// the token rotated: the exporter reads its token from a file, and the run
// writes a new token into it, which the exporter picks up without a
// restart.
//
// After every phase the run waits until no export is in flight and reads the
// counters of the span processor (core.Processor.Stats) and of the exporter
// (export.Exporter.Stats). The report lists, per phase and in total, the
// invocations sent, answered and failed because of tracing, the invocation
// latency next to the flush budget, the spans created, exported, dropped by
// reason and still pending, and RSS and goroutine counts. [Report.Failures]
// lists every check that failed.
//
// Run is what cmd/soak (make soak) runs with [FullConfig]; the package's test
// runs [ShortConfig] under go test.
package soak
