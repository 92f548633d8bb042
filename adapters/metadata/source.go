package metadata

import (
	"context"
	"os"
	"strconv"

	"github.com/gcftrace/gcftrace/ports"
)

// Config holds values the user knows better than the platform. Every set
// field wins over what the environment says.
type Config struct {
	ProjectID string
	Region    string
	Function  string
	MemoryMB  int

	_ struct{} // forbid unkeyed literals
}

// Source is a ports.EnvironmentSource over the process environment.
type Source struct {
	env ports.Environment
}

var _ ports.EnvironmentSource = (*Source)(nil)

// An Option configures a Source.
type Option interface{ apply(*options) }

type options struct {
	getenv func(string) string
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithGetenv replaces os.Getenv, for tests and for embedding services whose
// configuration does not come from the process environment.
func WithGetenv(getenv func(string) string) Option {
	return optionFunc(func(o *options) {
		if getenv != nil {
			o.getenv = getenv
		}
	})
}

// New returns a Source. It reads the environment once, at once.
func New(cfg Config, opts ...Option) *Source {
	o := options{getenv: os.Getenv}
	for _, opt := range opts {
		opt.apply(&o)
	}
	user := ports.Environment{
		ProjectID: cfg.ProjectID,
		Region:    cfg.Region,
		Function:  cfg.Function,
		MemoryMB:  cfg.MemoryMB,
	}
	return &Source{env: user.Merge(fromEnv(o.getenv))}
}

// Environment reports the environment. Off Google Cloud it returns what is
// known with ports.ErrNotOnGCP.
func (s *Source) Environment(ctx context.Context) (ports.Environment, error) {
	if err := ctx.Err(); err != nil {
		return s.env, err
	}
	if s.env.Platform == ports.PlatformUnknown {
		return s.env, ports.ErrNotOnGCP
	}
	return s.env, nil
}

// fromEnv reads what the platform puts into the process environment.
func fromEnv(getenv func(string) string) ports.Environment {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := getenv(k); v != "" {
				return v
			}
		}
		return ""
	}
	env := ports.Environment{
		ProjectID:     first("GOOGLE_CLOUD_PROJECT", "GCP_PROJECT", "GCLOUD_PROJECT"),
		Region:        getenv("FUNCTION_REGION"),
		Function:      first("K_SERVICE", "FUNCTION_NAME", "CLOUD_RUN_JOB"),
		Revision:      first("K_REVISION", "CLOUD_RUN_EXECUTION"),
		Configuration: getenv("K_CONFIGURATION"),
		EntryPoint:    first("FUNCTION_TARGET", "ENTRY_POINT"),
		SignatureType: getenv("FUNCTION_SIGNATURE_TYPE"),
	}
	if mb, err := strconv.Atoi(getenv("FUNCTION_MEMORY_MB")); err == nil && mb > 0 {
		env.MemoryMB = mb
	}
	env.Platform = platform(getenv)
	return env
}

// platform detects the product from the variables each one sets. Functions
// come before Cloud Run because 2nd gen also sets K_CONFIGURATION.
func platform(getenv func(string) string) ports.Platform {
	switch {
	case getenv("FUNCTION_NAME") != "" || getenv("ENTRY_POINT") != "" || getenv("FUNCTION_REGION") != "" && getenv("K_SERVICE") == "":
		return ports.PlatformFunctionsGen1
	case getenv("FUNCTION_TARGET") != "" && getenv("K_SERVICE") != "":
		return ports.PlatformFunctionsGen2
	case getenv("K_CONFIGURATION") != "" && getenv("K_SERVICE") != "":
		return ports.PlatformCloudRunService
	case getenv("CLOUD_RUN_JOB") != "":
		return ports.PlatformCloudRunJob
	}
	return ports.PlatformUnknown
}
