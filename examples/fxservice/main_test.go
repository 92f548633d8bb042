package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/gcftrace/gcftrace/adapters/export/exporttest"
	"github.com/gcftrace/gcftrace/core"
	"github.com/gcftrace/gcftrace/ports"
	"github.com/gcftrace/gcftrace/ports/portstest"
)

func TestAppValidates(t *testing.T) {
	if err := fx.ValidateApp(App()); err != nil {
		t.Fatal(err)
	}
}

func TestServiceTracesEachRouteOverOTLP(t *testing.T) {
	sink, err := exporttest.NewSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	cfg := core.NewDefaultConfig()
	cfg.Endpoint = sink.URL()

	t.Setenv("PORT", "0")
	var h http.Handler
	app := fxtest.New(t, App(),
		fx.Replace(cfg),
		fx.Replace(fx.Annotate(ports.EnvironmentSource(portstest.StaticEnvironment{
			Platform: ports.PlatformCloudRunService, Function: "orders", ProjectID: "demo-project", Region: "europe-west3",
		}), fx.As(new(ports.EnvironmentSource)))),
		fx.Populate(&h),
	)
	app.RequireStart()
	defer app.RequireStop()

	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/orders/o-7", ""},
		{"POST", "/orders", `{"Items":2}`},
		{"GET", "/healthz", ""},
	} {
		r, _ := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(req.body))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err := sink.WaitForSpans(t.Context(), 4); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range sink.Spans() {
		names[s.Span.GetName()] = true
	}
	for _, want := range []string{"GET /orders/{id}", "load order", "POST /orders", "GET /healthz"} {
		if !names[want] {
			t.Errorf("no span %q among %v", want, names)
		}
	}
}
