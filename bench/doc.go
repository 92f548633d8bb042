// Package bench measures gcftrace side by side with the anchors it must beat,
// in one process, on one machine, against one loopback receiver:
//
//   - a bare net/http handler, and contrib's otelhttp.NewHandler with the
//     OpenTelemetry SDK, against adapters/handler.HTTP;
//   - the SDK's BatchSpanProcessor against core.Processor, for a whole span
//     and for OnEnd alone;
//   - otlptracehttp against adapters/export, gzip off and on, batches of 1,
//     10, 100 and 512 spans;
//   - one invocation with flush on exit (otelhttp, BatchSpanProcessor,
//     otlptracehttp and ForceFlush against what wiring.New assembles), and a
//     bare loopback POST of the same bytes, the physical floor;
//   - bursts of concurrent invocations with flush on exit.
//
// Each measurement is a [Scenario]: a setup that returns one operation. The
// Benchmark functions of this package's tests run them under go test -bench;
// cmd/report runs them in-process with testing.Benchmark and prints every
// figure of ours as a ratio to its anchor. The tests run every operation a
// few times, without timing, to prove the scenarios work.
//
// The receiver ([Receiver]) reads and discards each request body and answers
// 200 with an empty protobuf body; it is the same for anchors and ours.
package bench
