package export

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Outage timing.
const (
	outageJitter     = 5 // the pause varies by ±1/5
	outageTimeFormat = "2006-01-02T15:04:05.000Z07:00"
)

// verdict is what a request's outcome tells about the endpoint.
type verdict int8

const (
	reachable   verdict = iota // it answered, with anything but a gateway error
	unreachable                // a transport failure, the deadline, or 502/503/504
	noVerdict                  // the caller cancelled, or Shutdown stopped the export
)

// outageGate makes exports fail fast while the endpoint is down: after an
// export that ended on an unreachable verdict, for a pause of 1s that
// doubles with every failed probe, up to Config.MaxOutagePause (1m). The
// first export after the pause is the probe: it makes one attempt, and
// exports that come while it runs fail fast too.
type outageGate struct {
	down atomic.Bool // pause != 0, read without the lock on every export

	first, max time.Duration // from Config.OutagePause; first < 0: off; 0: the defaults

	mu      sync.Mutex
	since   time.Time     // when the endpoint went down
	until   time.Time     // end of the pause
	pause   time.Duration // 0: the endpoint is not known to be down
	cause   error         // the failure that started or extended the pause
	probing bool          // a probe is running
}

// check returns an error while the endpoint is down, and probe true when
// the export is the probe: the caller must then call endProbe. A final
// export (ports.WithFinalExport) is always let through as a probe.
func (g *outageGate) check(now func() time.Time, final bool) (probe bool, err error) {
	if !g.down.Load() {
		return false, nil
	}
	t := now()
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.pause == 0:
		return false, nil
	case final:
	case g.probing:
		// The cause is quoted, not wrapped: a fast failure is not the
		// caller's deadline, whatever ended the export that saw the outage.
		return false, fmt.Errorf("endpoint down after %v; next try after a probe in flight", g.cause)
	case t.Before(g.until):
		return false, fmt.Errorf("endpoint down after %v; next try after %s", g.cause, g.until.UTC().Format(outageTimeFormat))
	}
	g.probing = true
	return true, nil
}

// endProbe ends a probe that reached no verdict, if fail or ok have not
// ended it already: the next export probes again.
func (g *outageGate) endProbe() {
	g.mu.Lock()
	g.probing = false
	g.mu.Unlock()
}

// fail records an export that found the endpoint unreachable. first is true
// when the endpoint was up before. A failed probe doubles the pause; an
// export that started before the outage was seen leaves it alone.
func (g *outageGate) fail(now time.Time, cause error, probe bool) (pause time.Duration, first bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.first < 0:
		return 0, false
	case g.pause == 0:
		g.pause = cmp.Or(g.first, DefaultOutagePause)
		g.since = now
		first = true
	case probe:
		g.pause = min(2*g.pause, cmp.Or(g.max, DefaultMaxOutagePause))
	default:
		return g.pause, false
	}
	if probe {
		g.probing = false
	}
	g.until = now.Add(jitterPause(g.pause))
	g.cause = cause
	g.down.Store(true)
	return g.pause, first
}

// ok records an answer from the endpoint. It returns how long the endpoint
// was down, and recovered true when an outage ends.
func (g *outageGate) ok(now func() time.Time) (downFor time.Duration, recovered bool) {
	if !g.down.Load() {
		return 0, false
	}
	t := now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pause == 0 {
		return 0, false
	}
	downFor = t.Sub(g.since)
	g.pause, g.since, g.until, g.cause, g.probing = 0, time.Time{}, time.Time{}, nil, false
	g.down.Store(false)
	return downFor, true
}

// jitterPause returns d ±20%.
func jitterPause(d time.Duration) time.Duration {
	j := d / outageJitter
	return d - j + rand.N(2*j+1)
}

// endpointDown records an export that found the endpoint unreachable, and
// logs when it goes down.
func (e *Exporter) endpointDown(cause error, probe bool) {
	pause, first := e.outage.fail(e.now(), cause, probe)
	if first {
		e.stats.outages.Add(1)
		e.logger.Warn("export: the endpoint is unreachable; exports fail fast without a request for a pause "+
			"that doubles while it stays down, then one export probes it with a single attempt",
			"endpoint", e.endpoint, "cause", cause, "pause", pause)
	}
}

// endpointUp records an answer from the endpoint, and logs when an outage
// ends.
func (e *Exporter) endpointUp() {
	if downFor, recovered := e.outage.ok(e.now); recovered {
		e.logger.Info("export: the endpoint answers again; export resumed",
			"endpoint", e.endpoint, "down_for", downFor.Round(time.Millisecond))
	}
}
