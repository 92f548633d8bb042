package core

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// cloudTraceHeader is Google's legacy trace header,
// "TRACE_ID/SPAN_ID[;o=OPTIONS]": a 32-digit hex trace id, a decimal uint64
// span id and option bit 0 meaning "trace this request".
const cloudTraceHeader = "x-cloud-trace-context"

// cloudTraceMaxLen bounds the header: 32 + 1 + 20 + ";o=" and a few digits.
const cloudTraceMaxLen = 64

// parseCloudTraceContext parses an X-Cloud-Trace-Context header into a remote
// span context. The span id is the decimal uint64 turned into 8 big-endian
// bytes; o=1 becomes the sampled flag. Anything malformed, and a zero trace or
// span id, yields false.
func parseCloudTraceContext(h string) (trace.SpanContext, bool) {
	if h == "" || len(h) > cloudTraceMaxLen {
		return trace.SpanContext{}, false
	}
	tid, rest, ok := strings.Cut(h, "/")
	if !ok || len(tid) != 32 {
		return trace.SpanContext{}, false
	}
	var cfg trace.SpanContextConfig
	for i := range cfg.TraceID {
		hi, lo := unhex(tid[2*i]), unhex(tid[2*i+1])
		if hi > 0xf || lo > 0xf {
			return trace.SpanContext{}, false
		}
		cfg.TraceID[i] = hi<<4 | lo
	}
	span, opts, hasOpts := strings.Cut(rest, ";")
	if span == "" || span[0] < '0' || span[0] > '9' {
		return trace.SpanContext{}, false
	}
	sid, err := strconv.ParseUint(span, 10, 64)
	if err != nil {
		return trace.SpanContext{}, false
	}
	for i := range cfg.SpanID {
		cfg.SpanID[i] = byte(sid >> (56 - 8*i))
	}
	if hasOpts {
		o, ok := strings.CutPrefix(opts, "o=")
		if !ok {
			return trace.SpanContext{}, false
		}
		v, ok := parseDigits(o)
		if !ok {
			return trace.SpanContext{}, false
		}
		if v&1 == 1 {
			cfg.TraceFlags = trace.FlagsSampled
		}
	}
	cfg.Remote = true
	sc := trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}
