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
}

func (e *RetryableError) Error() string {
	return fmt.Sprintf("export: %d spans not delivered, retry later: %v", len(e.Spans), e.Err)
}

func (e *RetryableError) Unwrap() error { return e.Err }

// Undelivered returns e.Spans; it makes *RetryableError a
// ports.UndeliveredError, which span processors read without importing this
// package.
func (e *RetryableError) Undelivered() []sdktrace.ReadOnlySpan { return e.Spans }

var _ ports.UndeliveredError = (*RetryableError)(nil)

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
}

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

func rejected(format string, args ...any) error {
	return &rejectedError{msg: "export: " + fmt.Sprintf(format, args...)}
}
