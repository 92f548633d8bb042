package portstest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gcftrace/gcftrace/ports"
)

// TestEnvironmentSource checks the EnvironmentSource contract. newSource must
// return a fresh source for each call; the suite may call it several times.
func TestEnvironmentSource(t *testing.T, newSource func(t *testing.T) ports.EnvironmentSource) {
	t.Helper()
	// Every call runs under a bounded context: a source may legitimately wait
	// for a slow server until its caller's deadline.
	bounded := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("HonoursCancelledContext", func(t *testing.T) {
		src := newSource(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = src.Environment(ctx) // any answer is fine; it must come back
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("Environment did not return within 2s of a cancelled context")
		}
	})

	t.Run("HonoursDeadline", func(t *testing.T) {
		src := newSource(t)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _ = src.Environment(ctx)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Environment took %v under a 50ms deadline", d)
		}
	})

	t.Run("Deterministic", func(t *testing.T) {
		src := newSource(t)
		first, err1 := src.Environment(bounded(t))
		second, err2 := src.Environment(bounded(t))
		if err1 == nil && err2 == nil && first != second {
			t.Fatalf("two calls disagree:\n%+v\n%+v", first, second)
		}
		if err1 != nil && !errors.Is(err1, ports.ErrNotOnGCP) && first != (ports.Environment{}) && err2 == nil && second == (ports.Environment{}) {
			t.Fatalf("a later call lost what the first knew: %+v then %+v", first, second)
		}
	})

	t.Run("ConcurrentSafe", func(t *testing.T) {
		src := newSource(t)
		ctx := bounded(t)
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				_, _ = src.Environment(ctx)
			})
		}
		wg.Wait()
	})

	t.Run("PlatformKnownWhenNotErrNotOnGCP", func(t *testing.T) {
		env, err := newSource(t).Environment(bounded(t))
		if errors.Is(err, ports.ErrNotOnGCP) && env.Platform != ports.PlatformUnknown {
			t.Fatalf("ErrNotOnGCP with platform %q", env.Platform)
		}
	})
}
