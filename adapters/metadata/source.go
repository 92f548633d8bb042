package metadata

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gcemetadata "cloud.google.com/go/compute/metadata"

	"github.com/gcftrace/gcftrace/ports"
)

// Source is a ports.EnvironmentSource over the process environment, the
// user's Config and the GCE metadata server. Its methods are safe for
// concurrent use.
//
// [New] starts the metadata lookups in the background; [Source.Environment]
// waits for the first round of them, up to its context; [Source.Known],
// [Source.Ready] and [Source.Changed] never wait; [Source.Close] stops what
// is still running.
type Source struct {
	base    ports.Environment // Config over the process environment
	onGCP   bool
	known   atomic.Pointer[ports.Environment]
	ready   chan struct{} // closed when the first round is over
	settled chan struct{} // closed when no lookup is left to run

	// Lookup state; nil or zero when the Source makes no lookups.
	cfg     Config
	logger  *slog.Logger
	client  *gcemetadata.Client
	tr      *transport
	stop    context.CancelFunc
	once    sync.Once // guards Close
	mu      sync.Mutex
	found   ports.Environment // valid lookup answers, guarded by mu
	changed chan struct{}     // see Changed; guarded by mu, nil once settled
}

var _ ports.EnvironmentSource = (*Source)(nil)

// New returns a Source and never blocks. It reads the process environment
// at once, Config values winning, and detects the platform. On a Google
// Cloud platform, or wherever GCE_METADATA_HOST names a metadata server, it
// then looks up in the background every field still missing (project id,
// numeric project id, region, zone, instance id): all in parallel under one
// deadline (Config.Timeout), then, for those that failed, in up to
// Config.Retries later rounds with backoff. Elsewhere it makes no request
// at all.
//
// The background work ends by itself after at most
// (Retries+1)·Timeout + (2^Retries − 1)·RetryDelay, about 11 s with the
// defaults; [Source.Close] ends it sooner.
func New(cfg Config, opts ...Option) *Source {
	o := options{getenv: os.Getenv}
	for _, opt := range opts {
		opt.apply(&o)
	}
	cfg = cfg.withDefaults()
	s := &Source{
		base:    base(cfg, o.getenv),
		ready:   make(chan struct{}),
		settled: make(chan struct{}),
	}
	s.known.Store(&s.base)
	host := o.getenv(EnvMetadataHost)
	s.onGCP = s.base.Platform != ports.PlatformUnknown
	var todo []int
	if s.onGCP || host != "" {
		todo = s.missing()
	}
	if len(todo) == 0 {
		close(s.ready)
		close(s.settled)
		return s
	}
	if host == "" {
		host = defaultMetadataHost
	}
	s.cfg = cfg
	s.logger = o.logger
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.changed = make(chan struct{})
	s.tr = newTransport(host, o.dial)
	s.client = newClient(s.tr)
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	// The first round's lookups start here rather than from run's
	// goroutine, one scheduling hop sooner, and the round closes ready
	// itself as soon as its outcome is known.
	start := time.Now()
	first := s.startRound(ctx, todo, func() { close(s.ready) })
	go s.run(ctx, first, start)
	// Let the lookups reach the wire before the caller goes on setting up:
	// in a fresh process they otherwise wait behind the rest of setup for
	// a P. Against a refusing server this ends a cold start 0.15 to 0.3 ms
	// sooner (the refusal settles the round sooner); it costs the caller
	// one trip through the scheduler.
	runtime.Gosched()
	return s
}

// Environment reports the environment: the Config over the process
// environment, completed by the metadata lookups that have succeeded.
//
// While the first round of lookups is running, Environment waits for it to
// end or for ctx to be done, whichever comes first, and then returns what
// is known with a nil error: a partial Environment is a normal answer, not
// an error. It never waits for background retries; what they find shows in
// later calls.
//
// When the environment names no Google Cloud platform it returns
// ports.ErrNotOnGCP with what is known: at once when GCE_METADATA_HOST is
// unset too (no lookup runs), else after the first round, with the
// server's answers (a local run against an emulator).
func (s *Source) Environment(ctx context.Context) (ports.Environment, error) {
	select {
	case <-s.ready:
	case <-ctx.Done():
	}
	return s.Known()
}

// Known returns what is known now, without waiting: the answer Environment
// would give if the lookups still running had not started. It is cheap (an
// atomic load) and meant to be called on every flush.
func (s *Source) Known() (ports.Environment, error) {
	env := *s.known.Load()
	if !s.onGCP {
		return env, ports.ErrNotOnGCP
	}
	return env, nil
}

// Ready returns a channel that is closed when the first round of lookups is
// over: every lookup answered, failed, or ran out of Config.Timeout, or the
// server refused a connection. It is closed from the start when there is
// nothing to look up, and by Close.
func (s *Source) Ready() <-chan struct{} { return s.ready }

// Changed returns a channel that is closed when a round of lookups ends,
// the first or a background retry, so that Known may answer more; take it
// before calling Known, so that no round is missed. It returns nil once the
// background lookups have ended for good (all answered, retries spent, or
// Close): Known will not change any more.
func (s *Source) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// roundOver wakes the receivers of Changed; last ends Changed for good.
func (s *Source) roundOver(last bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		return
	}
	close(s.changed)
	s.changed = nil
	if !last {
		s.changed = make(chan struct{})
	}
}

// Close stops the background lookups, in flight or scheduled, and waits for
// them to return. What was learned stays available. Close is safe to call
// more than once and always returns nil.
func (s *Source) Close() error {
	s.once.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		<-s.settled
	})
	return nil
}

// missing returns the indexes of the lookups whose field is still empty.
func (s *Source) missing() []int {
	env := *s.known.Load()
	var idx []int
	for i, l := range lookups {
		if *l.field(&env) == "" {
			idx = append(idx, i)
		}
	}
	return idx
}

// run waits for the first round, then does the retry rounds until none is
// left to retry, the retries are spent or ctx is cancelled.
func (s *Source) run(ctx context.Context, first *round, start time.Time) {
	defer close(s.settled)
	defer s.roundOver(true)
	<-first.done
	s.roundOver(false)
	failed := first.failed
	s.logger.Debug("metadata: first lookups done",
		"elapsed", time.Since(start), "lookups", first.n, "failed", len(failed))
	delay := s.cfg.RetryDelay
	for retry := 1; len(failed) > 0 && retry <= s.cfg.Retries && ctx.Err() == nil; retry++ {
		t := time.NewTimer(delay/2 + rand.N(delay/2+1))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		if ctx.Err() != nil {
			break
		}
		delay = min(2*delay, maxRetryDelay)
		var todo []int
		for i, l := range lookups {
			if _, ok := failed[l.path]; ok {
				todo = append(todo, i)
			}
		}
		r := s.startRound(ctx, todo, nil)
		<-r.done
		failed = r.failed
		if len(failed) > 0 {
			s.roundOver(false)
		}
	}
	if len(failed) > 0 && ctx.Err() == nil {
		attrs := []any{"elapsed", time.Since(start)}
		for path, err := range failed {
			attrs = append(attrs, path, err.Error())
		}
		s.logger.Warn("metadata: lookups given up", attrs...)
	}
}

// A round is one set of lookups in flight in parallel under one deadline.
type round struct {
	n      int                // lookups started
	cancel context.CancelFunc // ends the round's deadline
	over   func()             // called once when the round's outcome is known; may be nil
	once   sync.Once          // guards over
	left   atomic.Int32       // lookups still running
	done   chan struct{}      // closed when every lookup has returned
	mu     sync.Mutex
	failed map[string]error // by path: failures that may pass later; read after done
}

// startRound starts the lookups todo, each in a goroutine of its own, under
// one deadline of Config.Timeout. over, when set, is called once, from the
// goroutine that knows the round's outcome first, so that the first round's
// waiters wake without another hop through a scheduler queue: the last
// lookup to return, or the first one refused a connection (nothing listens
// on the host, so every other lookup of the round would be refused as well;
// they are cancelled and retried with the failed ones).
func (s *Source) startRound(ctx context.Context, todo []int, over func()) *round {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	r := &round{n: len(todo), cancel: cancel, over: over, done: make(chan struct{}), failed: make(map[string]error)}
	r.left.Store(int32(len(todo)))
	if len(todo) == 0 {
		r.finish()
		return r
	}
	for _, i := range todo {
		l := lookups[i]
		go func() {
			v, err := s.lookup(ctx, l)
			switch {
			case err == nil:
				s.set(l, v)
			case isNotDefined(err):
				s.logger.Debug("metadata: not defined", "path", l.path)
			default:
				r.mu.Lock()
				r.failed[l.path] = err
				r.mu.Unlock()
				if errors.Is(err, syscall.ECONNREFUSED) {
					r.cancel()
					r.settle()
				}
			}
			if r.left.Add(-1) == 0 {
				r.finish()
			}
		}()
	}
	return r
}

// settle calls over the first time the round's outcome is known.
func (r *round) settle() {
	if r.over != nil {
		r.once.Do(r.over)
	}
}

// finish ends the round once every lookup has returned.
func (r *round) finish() {
	r.cancel()
	r.settle()
	close(r.done)
}

// lookup asks for one path and validates the answer.
func (s *Source) lookup(ctx context.Context, l lookup) (string, error) {
	body, err := s.client.GetWithContext(ctx, l.path)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("metadata: %s: %w", l.path, ctx.Err())
		}
		return "", fmt.Errorf("metadata: %s: %w", l.path, causeOf(err))
	}
	v, err := l.parse(body)
	if err != nil {
		return "", fmt.Errorf("metadata: %s: %w", l.path, err)
	}
	return v, nil
}

// set records a valid answer and publishes the merged Environment.
func (s *Source) set(l lookup, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*l.field(&s.found) = v
	env := s.base.Merge(s.found)
	s.known.Store(&env)
}

// newClient returns a private metadata client over tr. Its logger stays
// the default, which discards: request logs would repeat what the Source
// logs once. It follows no redirect: the metadata server sends none, and
// one could only point a lookup at another path's value.
func newClient(tr *transport) *gcemetadata.Client {
	return gcemetadata.NewWithOptions(&gcemetadata.Options{Client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}})
}

func isNotDefined(err error) bool {
	_, ok := errors.AsType[gcemetadata.NotDefinedError](err)
	return ok
}
