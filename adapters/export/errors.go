package export

import (
	"errors"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gcftrace/gcftrace/ports"
)

// A RetryableError reports spans that were not delivered but may be
// exported again later. It never wraps ports.ErrExportRejected.
type RetryableError struct {
	// Spans are the spans of the batch that were not delivered, grouped by
	// resource and scope and otherwise in batch order. Spans of the same
	// batch that were delivered or dropped for good are not in it.
	Spans []sdktrace.ReadOnlySpan

	// Err is the cause.
	Err error

	// Dropped is how many other spans of the batch were dropped for good
	// (and counted in Stats); the batch's remaining spans were delivered.
	Dropped int
}

func (e *RetryableError) Error() string {
	return fmt.Sprintf("export: %d spans not delivered, retry later: %v", len(e.Spans), e.Err)
}

func (e *RetryableError) Unwrap() error { return e.Err }

// Undelivered returns e.Spans; it makes *RetryableError a
// ports.UndeliveredError, which span processors read without importing this
// package.
func (e *RetryableError) Undelivered() []sdktrace.ReadOnlySpan { return e.Spans }

// Rejected returns e.Dropped; it makes *RetryableError a
// ports.RejectedError.
func (e *RetryableError) Rejected() int { return e.Dropped }

var (
	_ ports.UndeliveredError = (*RetryableError)(nil)
	_ ports.RejectedError    = (*RetryableError)(nil)
	_ ports.RejectedError    = (*rejectedError)(nil)
)

// Retryable reports whether err is a [*RetryableError], that is whether the
// spans of a failed export may be exported again later.
func Retryable(err error) bool {
	var re *RetryableError
	return errors.As(err, &re)
}

// rejectedError is a permanent failure; it wraps ports.ErrExportRejected.
type rejectedError struct {
	msg string
	err error // optional cause
	n   int   // spans dropped for good; the batch's others were delivered
}

// Rejected reports how many spans of the batch were dropped for good.
func (e *rejectedError) Rejected() int { return e.n }

func (e *rejectedError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *rejectedError) Unwrap() []error {
	if e.err != nil {
		return []error{ports.ErrExportRejected, e.err}
	}
	return []error{ports.ErrExportRejected}
}

// rejected is an error for n spans dropped for good.
func rejected(n int, format string, args ...any) error {
	return &rejectedError{msg: "export: " + fmt.Sprintf(format, args...), n: n}
}

// withRejected returns err, a *rejectedError, counting n spans.
func withRejected(err error, n int) error {
	if re, ok := err.(*rejectedError); ok {
		c := *re
		c.n = n
		return &c
	}
	return err
}
