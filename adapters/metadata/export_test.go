package metadata

import (
	"context"
	"net"
)

// WithDialer replaces the dialer of metadata requests, so that tests can
// count connections.
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return optionFunc(func(o *options) { o.dial = dial })
}

// Settled returns a channel closed when s has no lookup left to run.
func Settled(s *Source) <-chan struct{} { return s.settled }
