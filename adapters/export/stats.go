package export

import "sync/atomic"

// Drop reasons reported in Stats.Dropped.
const (
	DropTooLarge     = "too_large"    // a span alone was over MaxRequestBytes
	DropUnauthorized = "unauthorized" // 401/403, or exported while paused after one
	DropRejected     = "rejected"     // another permanent answer: 4xx, 500, a redirect, a TLS error
	DropShutdown     = "shutdown"     // exported after Shutdown
)

const (
	dropTooLarge = iota
	dropUnauthorized
	dropRejected
	dropShutdown
	numDrops
)

var dropNames = [numDrops]string{DropTooLarge, DropUnauthorized, DropRejected, DropShutdown}

// Stats are an Exporter's counters since New.
type Stats struct {
	Exported uint64            // spans in requests the receiver accepted (2xx)
	Rejected uint64            // of those, spans the receiver reported rejected (partial success)
	Failed   uint64            // spans handed back in a *RetryableError
	Dropped  map[string]uint64 // spans given up for good, by reason (Drop* constants); zero counts are left out

	Requests uint64 // HTTP requests sent, retries and warm-up included
	Retries  uint64 // of those, retries

	BytesRaw        uint64 // request bodies before compression, each request counted once
	BytesCompressed uint64 // the same bodies as sent (equal to BytesRaw without compression)

	Outages uint64 // times the endpoint was found down, after which exports failed fast until a probe got an answer

	AuthPauses   uint64 // times export paused after the endpoint refused the token (401/403), longer pauses after another refusal included
	TokenReloads uint64 // times a new token read from Config.TokenFile ended such a pause
	AuthPaused   bool   // export is paused now after a refused token
}

type counters struct {
	exported, rejected, failed atomic.Uint64
	dropped                    [numDrops]atomic.Uint64
	requests, retries          atomic.Uint64
	bytesRaw, bytesCompressed  atomic.Uint64
	outages                    atomic.Uint64
	authPauses, tokenReloads   atomic.Uint64
}

// Stats returns a snapshot of the exporter's counters.
func (e *Exporter) Stats() Stats {
	s := Stats{
		Exported:        e.stats.exported.Load(),
		Rejected:        e.stats.rejected.Load(),
		Failed:          e.stats.failed.Load(),
		Dropped:         map[string]uint64{},
		Requests:        e.stats.requests.Load(),
		Retries:         e.stats.retries.Load(),
		BytesRaw:        e.stats.bytesRaw.Load(),
		BytesCompressed: e.stats.bytesCompressed.Load(),
		Outages:         e.stats.outages.Load(),
		AuthPauses:      e.stats.authPauses.Load(),
		TokenReloads:    e.stats.tokenReloads.Load(),
		AuthPaused:      e.auth.paused(e.now()),
	}
	for i, name := range dropNames {
		if n := e.stats.dropped[i].Load(); n > 0 {
			s.Dropped[name] = n
		}
	}
	return s
}
