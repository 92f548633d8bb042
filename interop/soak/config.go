package soak

import (
	"time"

	"github.com/gcftrace/gcftrace/adapters/metadata"
	"github.com/gcftrace/gcftrace/adapters/metadata/metadatatest"
	"github.com/gcftrace/gcftrace/core"
)

// Config sizes a soak. Use ShortConfig or FullConfig.
type Config struct {
	// Phase is the length of each fault phase.
	Phase time.Duration
	// Recovery is the length of the last phase, healthy again with the
	// token rotated: at its start the run writes RotatedToken into the
	// token file, which the exporter, paused since the 401, reads again at
	// most once a second. It must exceed that second, so that whenever the
	// last read before the rotation fell, exports later in the phase come
	// after the next read and go out with the new token.
	Recovery time.Duration
	// Rate is the steady rate of invocations per second.
	Rate int
	// Burst is the number of concurrent invocations of a burst; BurstEvery
	// spreads bursts over the phases, at least one per phase.
	Burst      int
	BurstEvery time.Duration
	// FlushTimeout is core.Config.FlushTimeout, the flush budget of every
	// flush; invocation latency is checked against it.
	FlushTimeout time.Duration
	// OutagePause is the exporter's first fail-fast pause after it finds
	// the endpoint down (export.Config.OutagePause); 0: its default, 1 s.
	// The short soak scales it down with its phases.
	OutagePause time.Duration
	// MaxOutagePause caps that pause as it doubles while the endpoint
	// stays down (export.Config.MaxOutagePause). It stays below Phase, so
	// that a probe reaches the endpoint in every phase: with the default
	// minute, failed probes in the first fault phases pushed the next one
	// past the 401 and the whole recovery phase, and the run never saw the
	// endpoint come back.
	MaxOutagePause time.Duration
	// MetadataRecovery is how long the metadata server plays its
	// cold-start fault after the pipeline is set up.
	MetadataRecovery time.Duration
	// Metadata is the metadata adapter's timing (a round's deadline and
	// the pause before its first retry round); zero: its defaults. The
	// short soak scales it down with its phases, so that the retry after
	// the cold-start fault lands well inside the first healthy phase, the
	// one phase in which every export of the flush-on-exit run reaches the
	// endpoint.
	Metadata metadata.Config
	// Runs are the function instances to soak, one after the other.
	Runs []RunSpec
}

// RunSpec is one run: a cold-started function instance.
type RunSpec struct {
	Name          string
	FlushOnExit   bool               // core.Config.FlushOnExit; false: background export
	MetadataFault metadatatest.Fault // what the metadata server does at cold start
}

// DefaultRuns are the two runs of a soak: flush on exit while the metadata
// server hangs at cold start, and background export while it answers 500.
func DefaultRuns() []RunSpec {
	return []RunSpec{
		{Name: "flush on exit, metadata server hangs at cold start", FlushOnExit: true, MetadataFault: metadatatest.FaultHang},
		{Name: "background export, metadata server answers 500 at cold start", FlushOnExit: false, MetadataFault: metadatatest.FaultServerError},
	}
}

// ShortConfig is the soak go test runs: about 1 s per phase (2 s for the
// last one, a second more than the exporter may take to read the rotated
// token), and a flush budget of 500 ms instead of the default 2 s so that
// the phases that make every flush wait for its budget stay quick, while
// the 10 % the latency check allows stays above the scheduling noise of a
// busy machine under the race detector.
func ShortConfig() Config {
	return Config{
		Phase:            time.Second,
		Recovery:         2 * time.Second,
		Rate:             40,
		Burst:            200,
		BurstEvery:       time.Second,
		FlushTimeout:     500 * time.Millisecond,
		OutagePause:      100 * time.Millisecond,
		MaxOutagePause:   400 * time.Millisecond,
		MetadataRecovery: 150 * time.Millisecond,
		Metadata:         metadata.Config{Timeout: 250 * time.Millisecond, RetryDelay: 100 * time.Millisecond},
		Runs:             DefaultRuns(),
	}
}

// FullConfig is the soak make soak runs: about 60 s of load per run, 3 s per
// fault phase and 32 s healthy again at the end with the rotated token, with
// the default flush budget of 2 s.
func FullConfig() Config {
	return Config{
		Phase:            3 * time.Second,
		Recovery:         32 * time.Second,
		Rate:             50,
		Burst:            200,
		BurstEvery:       3 * time.Second,
		FlushTimeout:     core.DefaultFlushTimeout,
		MaxOutagePause:   2 * time.Second,
		MetadataRecovery: 3 * time.Second,
		Runs:             DefaultRuns(),
	}
}

// phase is one step of the endpoint's cycle.
type phase struct {
	name   string
	fault  fault
	last   bool // the recovery phase
	rotate bool // at its start, the token file gets RotatedToken
}

// phases is the endpoint's cycle. The 401 phase revokes Token: from then on
// the endpoint refuses it and accepts only RotatedToken, and the exporter
// drops spans and pauses export (30 s at first). The last phase rotates the
// token, as a new version of a secret mounted as a file does: the run writes
// RotatedToken into the token file, and the exporter, which reads it again
// during its pause (at most once a second), switches to it and resumes at
// once, without waiting for the pause to end. The 401 comes last but one so
// that every other fault plays with a token the endpoint accepts.
var phases = []phase{
	{name: "healthy", fault: faultNone},
	{name: "refused", fault: faultRefuse},
	{name: "hanging", fault: faultHang},
	{name: "slow (2 s)", fault: faultSlow},
	{name: "429, Retry-After: 1", fault: faultThrottle},
	{name: "503 storm", fault: faultUnavailable},
	{name: "413 on large requests", fault: faultTooLarge},
	{name: "truncated answers", fault: faultTruncated},
	{name: "non-protobuf answers", fault: faultNotProtobuf},
	{name: "401, token refused", fault: faultUnauthorized},
	{name: "healthy again, token rotated", fault: faultNone, last: true, rotate: true},
}

func (c Config) duration(p phase) time.Duration {
	if p.last {
		return c.Recovery
	}
	return c.Phase
}

func (c Config) bursts(p phase) int {
	if c.BurstEvery <= 0 || c.Burst <= 0 {
		return 0
	}
	return max(1, int(c.duration(p)/c.BurstEvery))
}

// padFor returns how much attribute the HTTP function's span gets in phase
// p: in the 413 phase 2 KiB, so that batches grow past the endpoint's limit
// and are split, and 64 KiB for one invocation in 50, a span that does not
// fit alone.
func padFor(p phase) func(seq uint64) int {
	if p.fault != faultTooLarge {
		return func(uint64) int { return 0 }
	}
	return func(seq uint64) int {
		if seq%50 == 0 {
			return 64 << 10
		}
		return 2 << 10
	}
}

// clientTimeout bounds one invocation of the load generator: far above
// what an invocation may take (the flush budget) and what a busy machine
// adds to a round trip, short enough that a request stuck in the
// framework's CloudEvents receiver does not hold the run up for long.
func (c Config) clientTimeout() time.Duration { return max(5*time.Second, 4*c.FlushTimeout) }

// requests and loadTime bound the load of one run.
func (c Config) requests() int {
	n := 0
	for _, p := range phases {
		n += int(c.duration(p).Seconds()*float64(c.Rate)) + 1 + c.bursts(p)*c.Burst
	}
	return n
}

func (c Config) loadTime() time.Duration {
	var d time.Duration
	for _, p := range phases {
		d += c.duration(p)
	}
	return d
}
