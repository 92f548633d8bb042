package handler

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strconv"

	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// errorTypePanic is error.type of a panic whose value is not an error.
const errorTypePanic = "panic"

// run calls fn inside span: a returned error is recorded by recordError, a
// panic by recordPanic. done, when not nil, sees fn's error before the span
// ends (to answer a request). The span then ends, the spans are flushed, and
// a panic is raised again so the framework answers as it always does. A
// function that ends its goroutine with runtime.Goexit gets its span ended
// and flushed too.
func (c *config) run(ctx context.Context, span trace.Span, fn func(context.Context) error, done func(error)) (err error) {
	returned := false
	defer func() {
		if returned {
			return
		}
		rec := recover() // nil after runtime.Goexit
		if rec != nil {
			recordPanic(span, rec, debug.Stack())
		}
		span.End()
		c.flush(ctx)
		if rec != nil {
			panic(rec)
		}
	}()
	err = fn(ctx)
	returned = true
	if failed(err) && span.IsRecording() {
		recordError(span, err)
	}
	if done != nil {
		done(err)
	}
	span.End()
	c.flush(ctx)
	return err
}

// failed reports whether an event function's error is a failure. nil, the
// CloudEvents SDK's ACK and an HTTP result below 400 acknowledge the event.
func failed(err error) bool {
	if err == nil || protocol.IsACK(err) {
		return false
	}
	var res *cehttp.Result
	if errors.As(err, &res) && res.StatusCode >= 100 && res.StatusCode < 400 {
		return false
	}
	return true
}

// recordError records a returned error: an exception event, status Error
// with the message, and error.type (the status code of a CloudEvents HTTP
// result, else the error's type).
func recordError(span trace.Span, err error) {
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	var res *cehttp.Result
	if errors.As(err, &res) && res.StatusCode > 0 {
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(res.StatusCode)))
		return
	}
	span.SetAttributes(semconv.ErrorType(err))
}

// recordPanic records a recovered panic: an exception event with the stack,
// status Error and error.type (the error's type, or "panic" when the value
// is not an error).
func recordPanic(span trace.Span, rec any, stack []byte) {
	if !span.IsRecording() {
		return
	}
	var msg string
	var errType attribute.KeyValue
	if err, ok := rec.(error); ok {
		msg = err.Error()
		errType = semconv.ErrorType(err)
	} else {
		msg = fmt.Sprint(rec)
		errType = semconv.ErrorTypeKey.String(errorTypePanic)
	}
	span.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(
		semconv.ExceptionType(typeName(rec)),
		semconv.ExceptionMessage(msg),
		semconv.ExceptionStacktrace(string(stack)),
	))
	span.SetStatus(codes.Error, msg)
	span.SetAttributes(errType)
}

// typeName is the package-qualified name of v's type, as the SDK writes
// exception.type.
func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return "<nil>"
	}
	if t.PkgPath() == "" || t.Name() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}
