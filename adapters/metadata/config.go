package metadata

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults applied by [NewDefaultConfig] and, for zero fields, by [New].
const (
	// DefaultTimeout bounds one round of lookups: every lookup of the round
	// runs in parallel under this one deadline.
	DefaultTimeout = time.Second

	// DefaultRetries is the number of background rounds after the first
	// that retry the lookups which failed.
	DefaultRetries = 3

	// DefaultRetryDelay is the pause before the first retry round; it
	// doubles before each later one and is jittered down by up to half.
	DefaultRetryDelay = time.Second

	// MaxRetries bounds Config.Retries: a few tries, so that a server that
	// never answers is not asked for the instance's whole life.
	MaxRetries = 10

	// maxRetryDelay bounds the pause between retry rounds as it doubles.
	maxRetryDelay = 5 * time.Minute
)

// Config holds values the user knows better than the platform, and the
// lookup budget. Every set identity field wins over the process environment
// and the metadata server, and a field set here is never looked up. Zero
// fields take the documented defaults, so Config{} is valid.
type Config struct {
	ProjectID string // the project id, e.g. "my-project"
	Region    string // e.g. "europe-west3"
	Function  string // the function or service name
	MemoryMB  int    // the memory limit; no current runtime reports it

	// Timeout bounds each round of metadata lookups, all of them in
	// parallel under this one deadline (default DefaultTimeout).
	Timeout time.Duration

	// Retries is the number of background rounds that retry failed lookups
	// after the first round (default DefaultRetries, at most MaxRetries;
	// negative: none). A lookup answered with 404 is not defined and never
	// retried.
	Retries int

	// RetryDelay is the pause before the first retry round; it doubles
	// before each later one, up to 5 minutes, and is jittered down by up
	// to half (default DefaultRetryDelay).
	RetryDelay time.Duration

	_ struct{} // forbid unkeyed literals
}

// NewDefaultConfig returns a Config with the default lookup budget and no
// user overrides.
func NewDefaultConfig() Config {
	return Config{Timeout: DefaultTimeout, Retries: DefaultRetries, RetryDelay: DefaultRetryDelay}
}

// Validate reports every field problem at once. [New] does not fail: it
// replaces what Validate rejects by the defaults.
func (c Config) Validate() error {
	var errs []error
	if c.MemoryMB < 0 {
		errs = append(errs, fmt.Errorf("memory mb: must be >= 0, got %d", c.MemoryMB))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must be >= 0, got %s", c.Timeout))
	}
	if c.RetryDelay < 0 {
		errs = append(errs, fmt.Errorf("retry delay: must be >= 0, got %s", c.RetryDelay))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	return nil
}

// withDefaults fills zero and invalid fields.
func (c Config) withDefaults() Config {
	if c.MemoryMB < 0 {
		c.MemoryMB = 0
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	switch {
	case c.Retries == 0:
		c.Retries = DefaultRetries
	case c.Retries < 0:
		c.Retries = 0
	case c.Retries > MaxRetries:
		c.Retries = MaxRetries
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	c.RetryDelay = min(c.RetryDelay, maxRetryDelay)
	return c
}

// An Option configures a Source.
type Option interface{ apply(*options) }

type options struct {
	getenv func(string) string
	logger *slog.Logger
	dial   dialFunc // tests only
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithGetenv replaces os.Getenv, for tests and for embedding services whose
// configuration does not come from the process environment. Every variable
// the Source reads goes through it, GCE_METADATA_HOST included.
func WithGetenv(getenv func(string) string) Option {
	return optionFunc(func(o *options) {
		if getenv != nil {
			o.getenv = getenv
		}
	})
}

// WithLogger sets the logger for lifecycle events: the end of the first
// round (debug) and lookups given up after every retry (warn). The default
// discards.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}
