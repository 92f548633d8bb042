package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/gcftrace/gcftrace/adapters/export/exporttest"
)

// The incoming trace context of the traceparent call: the example of the
// W3C Trace Context specification.
const (
	parentTraceID      = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpanID       = "00f067aa0ba902b7"
	exampleTraceparent = "00-" + parentTraceID + "-" + parentSpanID + "-01"
)

// renderSpan is the name of hello's child span.
const renderSpan = "render greeting"

// call is one scripted request to the function.
type call struct {
	id          string // Function-Execution-Id, as 1st-gen Cloud Functions sends it
	query       string
	traceparent string
	wantStatus  int
	wantBody    string
}

var calls = []call{
	{id: "local-1", wantStatus: http.StatusOK, wantBody: "Hello, World!"},
	{id: "local-2", query: "?name=Gopher", wantStatus: http.StatusOK, wantBody: "Hello, Gopher!"},
	{id: "local-3", query: "?name=Ada", traceparent: exampleTraceparent, wantStatus: http.StatusOK, wantBody: "Hello, Ada!"},
	{id: "local-4", query: "?fail=1", wantStatus: http.StatusInternalServerError, wantBody: "could not render the greeting"},
}

// expectedSpans is how many spans calls make: a server span and a render
// span each.
func expectedSpans(calls []call) int { return 2 * len(calls) }

// send makes the call and returns the status and the trimmed body.
func (c call) send(ctx context.Context, client *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+c.query, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Function-Execution-Id", c.id)
	if c.traceparent != "" {
		req.Header.Set("Traceparent", c.traceparent)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, strings.TrimSpace(string(body)), nil
}

// checkSpans checks that spans are exactly what calls should have produced.
func checkSpans(spans []exporttest.Span, calls []call) []result {
	type pair struct{ server, render *tracepb.Span }
	pairs := make([]pair, len(calls))
	var problems []string
	byID := map[string]int{}
	for i, c := range calls {
		byID[c.id] = i
	}
	used := map[*tracepb.Span]bool{}
	for _, s := range spans {
		if s.Span.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
			continue
		}
		id := stringAttr(s.Span.GetAttributes(), "faas.invocation_id")
		i, ok := byID[id]
		switch {
		case !ok:
			continue
		case pairs[i].server != nil:
			problems = append(problems, fmt.Sprintf("two server spans for invocation %s", id))
			continue
		}
		pairs[i].server = s.Span
		used[s.Span] = true
	}
	for i, c := range calls {
		server := pairs[i].server
		if server == nil {
			problems = append(problems, fmt.Sprintf("no server span with faas.invocation_id=%s (GET /%s)", c.id, c.query))
			continue
		}
		for _, s := range spans {
			if s.Span.GetName() == renderSpan && isChild(s.Span, server) {
				if pairs[i].render != nil {
					problems = append(problems, fmt.Sprintf("two %q spans under invocation %s", renderSpan, c.id))
				}
				pairs[i].render = s.Span
				used[s.Span] = true
			}
		}
		if pairs[i].render == nil {
			problems = append(problems, fmt.Sprintf("no %q span under invocation %s", renderSpan, c.id))
		}
	}
	for _, s := range spans {
		if !used[s.Span] {
			problems = append(problems, fmt.Sprintf("unexpected span %q in trace %x", s.Span.GetName(), s.Span.GetTraceId()))
		}
	}
	results := []result{{
		what: fmt.Sprintf("%d spans arrived: a server span and its %q child for each request", expectedSpans(calls), renderSpan),
		err:  joinProblems(problems),
	}}

	// Everything below looks only at the spans that were found.
	var statusProblems, parentProblems, coldProblems []string
	for i, c := range calls {
		server, render := pairs[i].server, pairs[i].render
		if server == nil {
			continue
		}
		if got := intAttr(server.GetAttributes(), "http.response.status_code"); got != int64(c.wantStatus) {
			statusProblems = append(statusProblems, fmt.Sprintf("%s: http.response.status_code=%d, want %d", c.id, got, c.wantStatus))
		}
		wantCode := tracepb.Status_STATUS_CODE_UNSET
		if c.wantStatus >= 500 {
			wantCode = tracepb.Status_STATUS_CODE_ERROR
		}
		if got := server.GetStatus().GetCode(); got != wantCode {
			statusProblems = append(statusProblems, fmt.Sprintf("%s: server span status %s, want %s", c.id, status(server.GetStatus()), status(&tracepb.Status{Code: wantCode})))
		}
		if render != nil && render.GetStatus().GetCode() != wantCode {
			statusProblems = append(statusProblems, fmt.Sprintf("%s: %q status %s, want %s", c.id, renderSpan, status(render.GetStatus()), status(&tracepb.Status{Code: wantCode})))
		}

		traceID, parent := hex.EncodeToString(server.GetTraceId()), hex.EncodeToString(server.GetParentSpanId())
		switch {
		case c.traceparent != "" && (traceID != parentTraceID || parent != parentSpanID):
			parentProblems = append(parentProblems, fmt.Sprintf("%s: trace %s parent %q, want trace %s parent %s", c.id, traceID, parent, parentTraceID, parentSpanID))
		case c.traceparent == "" && parent != "":
			parentProblems = append(parentProblems, fmt.Sprintf("%s: has parent %s, want a new trace", c.id, parent))
		}

		cold, hasCold := boolAttr(server.GetAttributes(), "faas.coldstart")
		if wantCold := i == 0; cold != wantCold {
			coldProblems = append(coldProblems, fmt.Sprintf("%s: faas.coldstart=%t (set: %t), want %t", c.id, cold, hasCold, wantCold))
		}
	}
	results = append(results,
		result{what: "status codes and span statuses match the answers (500 → error)", err: joinProblems(statusProblems)},
		result{what: fmt.Sprintf("traceparent continued: trace %s, parent %s; other requests start new traces", parentTraceID, parentSpanID), err: joinProblems(parentProblems)},
		result{what: "faas.coldstart=true on the first invocation only", err: joinProblems(coldProblems)},
		checkResource(spans),
	)
	return results
}

// checkResource checks that the resource names the function.
func checkResource(spans []exporttest.Span) result {
	want := []struct{ key, value string }{
		{"service.name", functionName},
		{"faas.name", functionName},
		{"faas.version", revision},
		{"cloud.provider", "gcp"},
		{"cloud.platform", "gcp_cloud_functions"},
		{"cloud.region", region},
		{"cloud.account.id", projectID},
	}
	var keys []string
	for _, w := range want {
		keys = append(keys, w.key)
	}
	r := result{what: "resource: " + strings.Join(keys, ", ")}
	if len(spans) == 0 {
		r.err = errors.New("no spans")
		return r
	}
	var problems []string
	for _, s := range spans {
		for _, w := range want {
			if got := stringAttr(s.Resource.GetAttributes(), w.key); got != w.value {
				problems = append(problems, fmt.Sprintf("%s=%q, want %q", w.key, got, w.value))
			}
		}
		if len(problems) > 0 {
			break
		}
	}
	r.err = joinProblems(problems)
	return r
}

func isChild(s, parent *tracepb.Span) bool {
	return string(s.GetTraceId()) == string(parent.GetTraceId()) &&
		string(s.GetParentSpanId()) == string(parent.GetSpanId())
}

func joinProblems(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

func attr(attrs []*commonpb.KeyValue, key string) *commonpb.AnyValue {
	for _, kv := range attrs {
		if kv.GetKey() == key {
			return kv.GetValue()
		}
	}
	return nil
}

func stringAttr(attrs []*commonpb.KeyValue, key string) string {
	return attr(attrs, key).GetStringValue()
}

func intAttr(attrs []*commonpb.KeyValue, key string) int64 {
	return attr(attrs, key).GetIntValue()
}

func boolAttr(attrs []*commonpb.KeyValue, key string) (value, set bool) {
	v := attr(attrs, key)
	_, set = v.GetValue().(*commonpb.AnyValue_BoolValue)
	return v.GetBoolValue(), set
}
