package exporttest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gcftrace/gcftrace/adapters/export/exporttest"
)

func ExampleSink() {
	sink, err := exporttest.NewSink()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sink.Close()

	// An exporter under test would POST here: sink.URL() is the endpoint,
	// sink.BaseURL() what DT_CONNECTION_BASE_URL would be.
	body, _ := proto.Marshal(&tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "GET /"}}}},
	}}})
	req, _ := http.NewRequest(http.MethodPost, sink.URL(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Api-Token example")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sink.WaitForSpans(ctx, 1); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, sink.Spans()[0].Span.GetName())
	fmt.Println(sink.Requests()[0].Header.Get("Authorization"))
	// Output:
	// 200 GET /
	// Api-Token example
}
