package soak

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gcftrace/gcftrace/adapters/export"
	"github.com/gcftrace/gcftrace/core"
)

// Limits the checks apply.
const (
	latencySlack = 0.10     // invocation latency may exceed the flush budget by 10 %
	rssSlack     = 32 << 20 // RSS may grow 32 MiB over the healthy phase's
)

// Report is the outcome of a soak.
type Report struct {
	Config   Config
	Runs     []RunReport
	Duration time.Duration
}

// Failures lists every failed check, one line each; empty when the soak
// passed.
func (r *Report) Failures() []string {
	var out []string
	for _, run := range r.Runs {
		for _, c := range run.Checks {
			if !c.OK {
				out = append(out, run.Name+": "+c.Name+": "+c.Detail)
			}
		}
	}
	return out
}

// RunReport is one run's table, counters and checks.
type RunReport struct {
	Name        string
	FlushOnExit bool
	Budget      time.Duration // the flush budget
	Recovery    time.Duration // the last phase's length
	Setup       time.Duration // wiring.New

	Rows  []Row // one per phase, then the shutdown
	snaps []snapshot

	Processor            core.ProcessorStats // after shutdown
	Exporter             export.Stats        // after shutdown
	FunctionSpans        uint64              // spans the wrappers and functions started, by their own count
	Handed               uint64              // spans passed to ExportSpans
	DeliveredAsRejected  uint64              // see recordingExporter
	DroppedAsExported    uint64              // see recordingExporter
	MaxConcurrentExports int64

	Endpoint         endpointStats
	MetadataRequests int64
	ResourceAfter    time.Duration // from setup to the first export with the complete resource

	Shutdown                       time.Duration
	StartRSS, HealthyRSS, EndRSS   uint64
	StartGoroutines, EndGoroutines int
	StartStuck, EndStuck           int    // of those, stuck in the framework's CloudEvents receiver
	GoroutineDump                  string // when goroutines stayed above the baseline

	Secrets secretReport
	Checks  []Check
}

// Check is one pass/fail verdict.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Row is one phase of a run.
type Row struct {
	Phase                  string
	From                   time.Duration // when the phase began, from setup
	Sent, Answered, Failed uint64        // invocations; Answered: with the function's own answer; Failed: not
	Stalled                uint64        // CloudEvents the framework never passed to the function
	P50, P99, Max          time.Duration
	RTTMax                 time.Duration // the load generator's longest round trip
	Created, Exported      uint64
	Dropped                map[string]uint64
	Pending                int
	Requests               uint64            // HTTP requests the exporter sent, retries included
	Answers                map[string]uint64 // what the endpoint answered, by kind
	RSS                    uint64
	Goroutines             int
	Failures               []string // the first few failed invocations
	Stalls                 []string // the first few stalled ones

	MaxFlush     time.Duration // the longest ForceFlush on exit
	MaxOverrun   time.Duration // the longest an ExportSpans call ran past its context's deadline
	OverrunSpans int           // the spans of that call

	latency []time.Duration
	quiet   bool        // the counters were read with no export in flight
	stats   *phaseStats // the phase's invocations, for refresh
}

func newRow(name string, prev, cur snapshot, ps *phaseStats) Row {
	r := Row{
		Phase:      name,
		Created:    cur.created() - prev.created(),
		Exported:   cur.x.Exported - prev.x.Exported,
		Dropped:    diff(cur.drops(), prev.drops()),
		Pending:    cur.p.Pending,
		Requests:   cur.x.Requests - prev.x.Requests,
		Answers:    diff(cur.ep.Answers, prev.ep.Answers),
		RSS:        cur.rss,
		Goroutines: cur.goroutines,
	}
	r.stats = ps
	r.refresh()
	return r
}

// refresh reads the phase's invocation counts again: the invocations
// through the framework's CloudEvents receiver may end after the phase.
func (r *Row) refresh() {
	ps := r.stats
	if ps == nil {
		return
	}
	ps.mu.Lock()
	r.latency = slices.Clone(ps.latency)
	_, _, r.RTTMax = percentiles(ps.rtt)
	r.Failures = slices.Clone(ps.failures)
	r.Stalls = slices.Clone(ps.stalls)
	r.MaxFlush, r.MaxOverrun, r.OverrunSpans = ps.maxFlush, ps.maxOverrun, ps.overrunSpans
	ps.mu.Unlock()
	r.Sent, r.Answered, r.Failed, r.Stalled = ps.sent.Load(), ps.answered.Load(), ps.failed.Load(), ps.stalled.Load()
	r.P50, r.P99, r.Max = percentiles(r.latency)
}

func diff(cur, prev map[string]uint64) map[string]uint64 {
	d := map[string]uint64{}
	for k, v := range cur {
		if n := v - prev[k]; n > 0 {
			d[k] = n
		}
	}
	return d
}

// Total sums the rows: totals of the counts, percentiles over every
// invocation, the levels at the end.
func (rr *RunReport) Total() Row {
	t := Row{Phase: "total", Dropped: map[string]uint64{}, Answers: map[string]uint64{}}
	for _, r := range rr.Rows {
		t.Sent += r.Sent
		t.Answered += r.Answered
		t.Failed += r.Failed
		t.Stalled += r.Stalled
		t.Stalls = append(t.Stalls, r.Stalls...)
		t.Created += r.Created
		t.Exported += r.Exported
		t.Requests += r.Requests
		t.latency = append(t.latency, r.latency...)
		t.RTTMax = max(t.RTTMax, r.RTTMax)
		t.MaxFlush = max(t.MaxFlush, r.MaxFlush)
		if r.MaxOverrun > t.MaxOverrun {
			t.MaxOverrun, t.OverrunSpans = r.MaxOverrun, r.OverrunSpans
		}
		for k, v := range r.Dropped {
			t.Dropped[k] += v
		}
		for k, v := range r.Answers {
			t.Answers[k] += v
		}
	}
	t.P50, t.P99, t.Max = percentiles(t.latency)
	if n := len(rr.Rows); n > 0 {
		t.Pending = rr.Rows[n-1].Pending
	}
	t.RSS, t.Goroutines = rr.EndRSS, rr.EndGoroutines
	return t
}

// latencyLimit is the longest an invocation may take.
func (rr *RunReport) latencyLimit() time.Duration {
	if raceEnabled {
		return rr.Budget + time.Second
	}
	return time.Duration(float64(rr.Budget) * (1 + latencySlack))
}

func (rr *RunReport) add(name string, ok bool, format string, args ...any) {
	rr.Checks = append(rr.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// check evaluates the run.
func (rr *RunReport) check() {
	total := rr.Total()

	// Every invocation answered by the function itself.
	var bad []string
	for _, r := range rr.Rows {
		if r.Failed > 0 || r.Answered+r.Stalled != r.Sent {
			bad = append(bad, fmt.Sprintf("%s: %d sent, %d answered, %d failed %q", r.Phase, r.Sent, r.Answered, r.Failed, r.Failures))
		}
	}
	rr.add("every invocation answered by the function, none failed because of tracing", len(bad) == 0,
		"%d sent, %d answered, %d failed%s", total.Sent, total.Answered, total.Failed, joined(bad))
	if total.Stalled > 0 {
		// Not a check of gcftrace: the framework never called the function.
		rr.add("(framework) CloudEvents the framework never passed to the function", true,
			"%d, not counted as failures: functions-framework-go's CloudEvents receiver (cloudevents/sdk-go "+
				"NewHTTPReceiveHandler, issues 1224 and 1332) orphans a request under concurrency; first: %q",
			total.Stalled, first(total.Stalls, 2))
	}

	// Invocation latency within the flush budget + 10 %. The race
	// detector makes the CPU work around a flush (the handler, encoding,
	// the processor's bookkeeping) several times slower; under it only a
	// flush that ignores its deadline is caught, at the budget + 1 s.
	limit := rr.latencyLimit()
	bad = nil
	for _, r := range rr.Rows {
		if r.Max > limit {
			bad = append(bad, fmt.Sprintf("%s: max %s; longest ForceFlush %s; an ExportSpans call returned %s after its deadline, with %d spans",
				r.Phase, ms(r.Max), ms(r.MaxFlush), ms(r.MaxOverrun), r.OverrunSpans))
		}
	}
	name := "invocation latency within the flush budget + 10 %"
	if raceEnabled {
		name = "invocation latency within the flush budget + 1 s (the race detector slows the CPU work around a flush; budget + 10 % is checked without it)"
	}
	rr.add(name, len(bad) == 0, "max %s, limit %s (budget %s)%s", ms(total.Max), ms(limit), ms(rr.Budget), joined(bad))

	// No silent loss, at every checkpoint.
	bad = nil
	for i, s := range rr.snaps {
		phase := rr.Rows[i].Phase
		if !rr.Rows[i].quiet {
			bad = append(bad, fmt.Sprintf("%s: no moment without an export in flight to read the counters", phase))
		}
		if c, a := s.created(), s.accounted(); c != a {
			bad = append(bad, fmt.Sprintf("%s: created %d, exported %d + dropped %d + pending %d = %d (%+d)",
				phase, c, s.x.Exported, sum(s.drops()), s.p.Pending, a, int64(a)-int64(c)))
		}
		if c, a := s.created(), s.processorAccounted(); c != a {
			bad = append(bad, fmt.Sprintf("%s: processor: created %d, its exported %d + dropped %d + pending %d = %d",
				phase, c, s.p.Exported, sum(s.p.Dropped), s.p.Pending, a))
		}
		if h, a := s.handed, s.exporterAccounted(); h != a {
			bad = append(bad, fmt.Sprintf("%s: exporter: handed %d spans, exported %d + dropped %d + failed %d = %d",
				phase, h, s.x.Exported, sum(s.x.Dropped), s.x.Failed, a))
		}
	}
	final := rr.snaps[len(rr.snaps)-1]
	rr.add("no silent loss: created = exported + dropped + pending after every phase", len(bad) == 0,
		"created %d = exported %d + dropped %d + pending %d%s",
		final.created(), final.x.Exported, sum(final.drops()), final.p.Pending, joined(bad))

	rr.add("spans created = spans the wrappers and functions started", final.p.Started == rr.FunctionSpans,
		"processor started %d, functions started %d", final.p.Started, rr.FunctionSpans)

	rr.add("nothing pending or unended after shutdown", final.p.Pending == 0 && final.p.Unended == 0,
		"pending %d, unended %d", final.p.Pending, final.p.Unended)

	// The processor's counters classify by the export's error; the
	// exporter's by each span's outcome. They must agree.
	gap := int64(final.p.Exported) - int64(final.x.Exported)
	rr.add("processor and exporter agree on every span's fate",
		rr.DeliveredAsRejected == 0 && rr.DroppedAsExported == 0 && rr.MaxConcurrentExports <= 1,
		"processor exported %d, exporter exported %d (%+d): %d delivered spans counted as rejected by the processor, "+
			"%d spans dropped by the exporter counted as exported; at most %d export(s) at a time",
		final.p.Exported, final.x.Exported, gap, rr.DeliveredAsRejected, rr.DroppedAsExported, rr.MaxConcurrentExports)

	shutdownLimit := time.Duration(float64(core.DefaultShutdownTimeout) * (1 + latencySlack))
	rr.add("shutdown within its budget + 10 %", rr.Shutdown <= shutdownLimit,
		"%s, budget %s", ms(rr.Shutdown), ms(core.DefaultShutdownTimeout))

	rr.add("goroutines back to baseline after shutdown",
		rr.EndGoroutines-rr.EndStuck <= rr.StartGoroutines-rr.StartStuck,
		"start %d, end %d%s", rr.StartGoroutines, rr.EndGoroutines, stuckNote(rr.StartStuck, rr.EndStuck))

	switch {
	case raceEnabled:
		rr.add("RSS within +32 MiB of the healthy phase", true,
			"not checked under the race detector, whose shadow memory grows RSS several times over; healthy %s, end %s",
			mib(rr.HealthyRSS), mib(rr.EndRSS))
	case rr.HealthyRSS == 0:
		rr.add("RSS within +32 MiB of the healthy phase", true, "no /proc/self/status: not measured")
	default:
		peak := rr.EndRSS
		for _, s := range rr.snaps {
			peak = max(peak, s.rss)
		}
		rr.add("RSS within +32 MiB of the healthy phase", peak <= rr.HealthyRSS+rssSlack,
			"healthy %s, peak %s, end %s", mib(rr.HealthyRSS), mib(peak), mib(rr.EndRSS))
	}

	sec := rr.Secrets
	rr.add("neither token appears in a log line or an error", len(sec.Leaks) == 0 && sec.LogLines > 0,
		"%d log lines and %d errors searched for both, %d leaks%s", sec.LogLines, sec.errorCount(), len(sec.Leaks), joined(sec.Leaks))
	rr.add("the endpoint got one of the tokens, whole, on every request", rr.Endpoint.BadAuth == 0 && total.Requests > 0,
		"%d requests without either", rr.Endpoint.BadAuth)

	ep := rr.Endpoint
	rr.add("every span counted exported reached the endpoint",
		uint64(ep.UniqueSpans) >= final.x.Exported && uint64(ep.UniqueSpans) <= final.created(),
		"%d distinct spans arrived (%d more receipts were duplicates), exporter counted %d exported",
		ep.UniqueSpans, ep.Duplicates, final.x.Exported)

	// The rotated token ends the pause at once, whatever the length of the
	// last phase: the exporter reads the token file again within a second,
	// long before its 30 s pause would end.
	last := rr.Rows[len(rr.Rows)-2] // the recovery phase; the shutdown row follows
	resumed := last.Exported + rr.Rows[len(rr.Rows)-1].Exported
	rr.add("export resumed after the pause that followed the 401, with the rotated token",
		resumed > 0 && rr.Exporter.TokenReloads > 0 && ep.RotatedAuth > 0,
		"%d spans exported in the last phase and at shutdown; the exporter read a new token from the token file %d time(s) "+
			"and sent %d requests with it; %d pauses after a 401",
		resumed, rr.Exporter.TokenReloads, ep.RotatedAuth, rr.Exporter.AuthPauses)

	rr.add("the resource was completed once the metadata server recovered", ep.CompleteRes > 0,
		"%d requests with project, region and instance; first %s after setup; %d metadata requests",
		ep.CompleteRes, ms(rr.ResourceAfter), rr.MetadataRequests)
}

// stuckNote explains goroutines left out of the baseline check.
func stuckNote(start, end int) string {
	if start == 0 && end == 0 {
		return ""
	}
	return fmt.Sprintf(" (of which %d and %d are requests stuck in the framework's CloudEvents receiver, "+
		"left out: cloudevents/sdk-go issue 1332)", start, end)
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func joined(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return "; " + strings.Join(s, "; ")
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func counts(m map[string]uint64) string {
	if len(m) == 0 {
		return "–"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// WriteMarkdown writes the report: per run, the phase table, the levels and
// the checks.
func (r *Report) WriteMarkdown(w io.Writer) error {
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "Load per run: %d invocations/s steady (half HTTP, three in eight CloudEvents through handler.CloudEventHTTP, one in eight through functions.CloudEvent and handler.CloudEvent) plus bursts of %d concurrent ones "+
		"(one per %s of phase); fault phases of %s, the last phase %s. Flush budget (core.Config.FlushTimeout) %s. "+
		"Soak took %s.\n",
		c.Rate, c.Burst, ms(c.BurstEvery), ms(c.Phase), ms(c.Recovery), ms(c.FlushTimeout), ms(r.Duration.Round(100*time.Millisecond)))
	for i, run := range r.Runs {
		fmt.Fprintf(&b, "\n#### Run %d: %s\n\n", i+1, run.Name)
		b.WriteString("| phase | from | sent | answered | failed (tracing) | stalled (framework) | p50 | p99 | max | created | exported | dropped | pending | export requests | endpoint answered | RSS | goroutines |\n")
		b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|---|--:|--:|\n")
		rows := append(slices.Clone(run.Rows), run.Total())
		for _, row := range rows {
			name := row.Phase
			if name == "total" {
				name = "**total**"
			}
			lat := func(d time.Duration) string {
				if row.Sent == 0 && row.Phase != "total" {
					return "–"
				}
				return ms(d)
			}
			from := fmt.Sprintf("%.1f s", row.From.Seconds())
			if row.Phase == "total" {
				from = ""
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %s | %s | %s | %d | %d | %s | %d | %d | %s | %s | %d |\n",
				name, from, row.Sent, row.Answered, row.Failed, row.Stalled, lat(row.P50), lat(row.P99), lat(row.Max),
				row.Created, row.Exported, counts(row.Dropped), row.Pending, row.Requests, counts(row.Answers),
				mib(row.RSS), row.Goroutines)
		}
		total := run.Total()
		flush := "There is no flush on exit (background export)"
		if run.FlushOnExit {
			flush = "The longest flush on exit took " + ms(total.MaxFlush)
		}
		fmt.Fprintf(&b, "\nLatency is the invocation's: from functions-framework-go calling the function to its return, "+
			"flush included; limit %s (budget %s). The load generator's longest round trip was %s "+
			"(the framework's CloudEvents receiver may hold a request until a later one arrives). "+
			"RSS %s at start, %s after the healthy phase, %s at the end; goroutines %d at start, %d after shutdown. "+
			"Shutdown took %s. The exporter sent %d requests (%d retries); %d spans were passed to it, %d of them handed back for a retry. "+
			"%s; the furthest an export ran past its deadline was %s, with %d spans.\n",
			ms(run.latencyLimit()), ms(run.Budget), ms(total.RTTMax),
			mib(run.StartRSS), mib(run.HealthyRSS), mib(run.EndRSS), run.StartGoroutines, run.EndGoroutines,
			ms(run.Shutdown), run.Exporter.Requests, run.Exporter.Retries, run.Handed, run.Exporter.Failed,
			flush, ms(total.MaxOverrun), total.OverrunSpans)
		b.WriteString("\n")
		for _, ch := range run.Checks {
			mark := "ok  "
			if !ch.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(&b, "- %s %s: %s\n", mark, ch.Name, ch.Detail)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
