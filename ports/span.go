package ports

import (
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ExportSpan is an ended span as the processor hands it to the exporter:
// with the resource completed after the span started, and with extra
// attributes (the FaaS identity keys, when copied onto spans).
//
// To any exporter it is an ordinary ReadOnlySpan whose Resource and
// Attributes say so. An exporter that knows the type may read the wrapped
// span directly and apply Res and Extra itself, as Attributes does.
type ExportSpan struct {
	sdktrace.ReadOnlySpan
	Res   *resource.Resource   // replaces the span's resource
	Extra []attribute.KeyValue // added before the span's own; a key the span has is left out
}

// Resource returns Res.
func (s *ExportSpan) Resource() *resource.Resource { return s.Res }

// Attributes returns the Extra attributes whose keys the span does not have,
// then the span's own.
func (s *ExportSpan) Attributes() []attribute.KeyValue {
	own := s.ReadOnlySpan.Attributes()
	if len(s.Extra) == 0 {
		return own
	}
	out := make([]attribute.KeyValue, 0, len(s.Extra)+len(own))
	for _, kv := range s.Extra {
		if !hasKey(own, kv.Key) {
			out = append(out, kv)
		}
	}
	return append(out, own...)
}

// hasKey reports whether attrs holds k.
func hasKey(attrs []attribute.KeyValue, k attribute.Key) bool {
	return slices.ContainsFunc(attrs, func(kv attribute.KeyValue) bool { return kv.Key == k })
}
