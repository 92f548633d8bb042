package handler

import (
	"net/http"

	"go.opentelemetry.io/otel/propagation"
)

// headerCarrier is propagation.HeaderCarrier without the allocation that
// http.Header.Get makes to canonicalise the lower-case keys propagators ask
// for ("traceparent" → "Traceparent").
type headerCarrier http.Header

var _ propagation.TextMapCarrier = headerCarrier(nil)

func (hc headerCarrier) Get(key string) string {
	if k := canonicalKey(key); k != "" {
		return first(hc[k])
	}
	return http.Header(hc).Get(key)
}

// Set is part of the carrier interface; extraction never calls it.
func (hc headerCarrier) Set(key, value string) { http.Header(hc).Set(key, value) }

// Keys lists the header names, as propagation.HeaderCarrier does.
func (hc headerCarrier) Keys() []string { return propagation.HeaderCarrier(hc).Keys() }

// Values returns every value of key, for propagators that read repeated
// headers (propagation.ValuesGetter).
func (hc headerCarrier) Values(key string) []string {
	if k := canonicalKey(key); k != "" {
		return hc[k]
	}
	return http.Header(hc).Values(key)
}

// canonicalKey is the canonical form of the header names propagators read,
// or "" for any other key.
func canonicalKey(key string) string {
	switch key {
	case "traceparent":
		return "Traceparent"
	case "tracestate":
		return "Tracestate"
	case "baggage":
		return "Baggage"
	case "x-dynatrace":
		return "X-Dynatrace"
	case "x-cloud-trace-context":
		return "X-Cloud-Trace-Context"
	}
	return ""
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// header is h.Get for a key already in canonical form.
func header(h http.Header, canonicalKey string) string { return first(h[canonicalKey]) }
