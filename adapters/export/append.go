package export

import (
	"math"
	"sync"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// AppendRequest appends the OTLP ExportTraceServiceRequest protobuf encoding
// of spans to dst and returns the extended buffer, for programs that ship
// OTLP bytes by other means (a queue, a file, their own transport).
//
// The bytes are those an [Exporter] sends for the same spans before
// compression, when they fit in one request: spans grouped by resource in
// order of first appearance, then by instrumentation scope, otherwise in
// batch order; nil spans are left out. They equal proto.Marshal of the same
// request built with the go.opentelemetry.io/proto/otlp types. AppendRequest
// does not split or drop anything, whatever the size.
//
// It is safe for concurrent use. Encoders and their resource and scope bytes
// are cached between calls, and span records are written straight into dst,
// so that with a dst of sufficient capacity a call allocates nothing in the
// steady state.
func AppendRequest(dst []byte, spans []sdktrace.ReadOnlySpan) []byte {
	enc := appendEncoders.Get().(*encoder)
	dst = enc.appendRequest(dst, spans)
	appendEncoders.Put(enc)
	return dst
}

// appendEncoders are encoders without a size limit, for AppendRequest.
var appendEncoders = sync.Pool{New: func() any {
	return newEncoder(Config{MaxRequestBytes: math.MaxInt})
}}
