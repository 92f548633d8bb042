// Package atstart prepares the environment of examples/local's processes
// before the example functions' init() runs.
//
// examples/local is one binary in two roles: the runner (the OTLP sink, the
// client, the printer) and, re-executed with [RoleEnv] set to [RoleFunction],
// the process that serves the function. Both link the function packages,
// whose init() sets up tracing from the environment as on Cloud Functions. In
// the runner that would configure tracing that never runs and print
// "tracing off: …", so this package sets OTEL_SDK_DISABLED=true there.
//
// It takes effect first because Go initialises, among the packages that are
// ready, the one whose import path sorts first (Go specification, "Package
// initialization"): this package imports only os, so it is ready no later
// than any function package, and "atstart" sorts before their names. Keep
// function packages' names after it.
package atstart

import "os"

// RoleEnv names the environment variable that marks the function process.
const (
	RoleEnv      = "GCFTRACE_LOCAL_ROLE"
	RoleFunction = "function"
)

// IsFunction reports whether this process serves the function.
func IsFunction() bool { return os.Getenv(RoleEnv) == RoleFunction }

func init() {
	if !IsFunction() {
		_ = os.Setenv("OTEL_SDK_DISABLED", "true")
	}
}
