package export

import (
	"log/slog"
	"net/http"
)

// An Option configures an Exporter.
type Option interface{ apply(*options) }

type options struct {
	logger *slog.Logger
	client *http.Client
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger sets the logger for lifecycle events and rare failures (a
// rejected token, partial success). The default, and nil, discard. Spans are
// never logged one by one.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

// WithHTTPClient sets the HTTP client, for a proxy, custom roots or an
// authenticating transport. The exporter uses a copy that never follows
// redirects; a transport that skips TLS verification is refused by New.
// The default is a dedicated client with keep-alive and HTTP/2, whose
// HTTP/2 connections are checked with a ping after half a second of
// silence, so that a connection that went silent is replaced rather than
// retried on; a transport of your own needs its HTTP2.SendPingTimeout set
// for that.
func WithHTTPClient(c *http.Client) Option {
	return optionFunc(func(o *options) { o.client = c })
}
