package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// WarmUp opens a connection to the endpoint (TCP and TLS) and leaves it in
// the pool, so that the first export does not pay for the handshake. It
// sends one empty export request, which also checks the token: a refused
// token is reported as an error. Call it at setup, off the request path,
// for example in a goroutine. It makes one attempt, bounded by ctx and
// Config.Timeout.
func (e *Exporter) WarmUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.Endpoint, http.NoBody)
	if err != nil {
		return fmt.Errorf("export: warm-up: %w", err)
	}
	req.Header = e.creds.Load().header.Clone()
	e.stats.requests.Add(1)
	resp, err := e.client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			ue.URL = e.endpoint // its query may hold a secret
		}
		return fmt.Errorf("export: warm-up: POST %s: %w", e.endpoint, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("export: warm-up: POST %s: %s (the API token needs scope openTelemetryTrace.ingest)", e.endpoint, statusText(code))
	default:
		return fmt.Errorf("export: warm-up: POST %s: %s", e.endpoint, strings.TrimSpace(statusText(code)))
	}
}
