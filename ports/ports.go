package ports

import (
	"context"
	"errors"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ErrNotOnGCP is returned by an EnvironmentSource outside Google Cloud. The
// Environment returned with it still carries what the process environment and
// the user's configuration said.
var ErrNotOnGCP = errors.New("ports: not running on Google Cloud")

// An EnvironmentSource reports the runtime Environment of the function
// instance.
//
// Implementations must honour ctx (return by its deadline, with ctx.Err() or a
// partial Environment), be safe for concurrent use, and never panic. Results
// may be cached. A partial Environment with a nil error is allowed: fields that
// are unknown are left empty.
type EnvironmentSource interface {
	Environment(ctx context.Context) (Environment, error)
}

// A Flusher exports what is pending. It is called after each invocation when
// flush on exit is on; ForceFlush must return by ctx's deadline.
//
// *sdktrace.TracerProvider satisfies it, and so does core.Processor.
type Flusher interface {
	ForceFlush(ctx context.Context) error
}

// A BoundedFlusher is a Flusher that bounds every flush itself, as
// core.Processor does: ForceFlush returns by the earlier of ctx's deadline
// and FlushBudget from the call, a cancelled ctx does not cut it short (a
// client that hung up), and with nothing pending it returns at once. A
// wrapper whose own budget is no shorter hands it the invocation's context
// as it is, instead of deriving a detached one with a deadline per
// invocation.
type BoundedFlusher interface {
	Flusher
	FlushBudget() time.Duration
}

// ErrExportRejected marks an export error after which retrying the same spans
// is pointless: the receiver refused them for good (a malformed request, a bad
// token, a span too large to send). An exporter wraps it; a span processor
// that sees it counts the spans as dropped instead of keeping them for the
// next flush. Any other export error means "try again later".
var ErrExportRejected = errors.New("ports: export rejected")

// A RejectedError is an export error that says how many spans of the batch
// the exporter dropped for good (and counted itself). Together with
// UndeliveredError it tells a span processor each span's fate: rejected,
// to be retried, or (the rest) delivered. An error wrapping
// ErrExportRejected without this method means the whole batch was rejected.
type RejectedError interface {
	error
	Rejected() int
}

// An UndeliveredError is an export error that knows which spans of the
// batch were not delivered and may be exported again later. The batch's
// other spans were delivered, or dropped and counted by the exporter. A span
// processor keeps only Undelivered() for the next flush.
type UndeliveredError interface {
	error
	Undelivered() []sdktrace.ReadOnlySpan
}

// finalExportKey marks the context of the last export before shutdown.
type finalExportKey struct{}

// WithFinalExport marks ctx as carrying the last export before shutdown, as
// core.Processor does in Shutdown. An exporter that fails fast while it
// believes the endpoint down (as the export adapter does for a pause after
// an outage) still makes one attempt for it, bounded by ctx: no later
// export will deliver these spans, and shutdown is off the invocation path.
func WithFinalExport(ctx context.Context) context.Context {
	return context.WithValue(ctx, finalExportKey{}, true)
}

// IsFinalExport reports whether ctx was marked by WithFinalExport.
func IsFinalExport(ctx context.Context) bool {
	v, _ := ctx.Value(finalExportKey{}).(bool)
	return v
}

// IsReservedHeader reports whether an OTLP/HTTP exporter sets the header
// name itself, so that configured headers may not name it: Content-Type,
// Content-Encoding, Content-Length, Host and Transfer-Encoding, in any case.
func IsReservedHeader(name string) bool {
	for _, r := range [...]string{"Content-Type", "Content-Encoding", "Content-Length", "Host", "Transfer-Encoding"} {
		if strings.EqualFold(r, name) {
			return true
		}
	}
	return false
}
