package core

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// The root-spans-per-minute budget follows the adaptive traffic management
// of Dynatrace's Envoy sampler: traces are counted per sampling key in a
// Space-Saving summary of the top 100 keys; once a minute every key gets a
// power-of-two sampling exponent from those counts; a key not in the table
// uses the exponent of the rarest counted key (the "rest bucket"); until a
// table exists the exponent grows with the number of traces seen.
const (
	atmPeriod      = time.Minute
	atmTopK        = 100
	atmFillPasses  = 5   // passes lowering exponents while under budget
	atmMaxKeyBytes = 256 // longer keys are cut, bounding the summary's memory
)

type atmBudget struct {
	perMinute uint64
	now       func() time.Time

	mu      sync.Mutex
	start   time.Time // of the current period
	summary spaceSaving
	exps    map[string]uint8 // from the last period
	rest    uint8            // for keys not in exps
	hasRest bool
	scratch []byte
}

func newATMBudget(perMinute uint64, now func() time.Time) *atmBudget {
	return &atmBudget{
		perMinute: perMinute,
		now:       now,
		start:     now(),
		summary:   spaceSaving{k: atmTopK, index: make(map[string]int, atmTopK)},
		scratch:   make([]byte, 0, 64),
	}
}

// exponent counts one trace under the key a+sep+b and returns the sampling
// exponent for it.
func (b *atmBudget) exponent(a, sep, c string) uint32 {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll(now)

	key := append(append(append(b.scratch[:0], a...), sep...), c...)
	if len(key) > atmMaxKeyBytes {
		key = key[:atmMaxKeyBytes]
	}
	b.scratch = key
	b.summary.offer(key)
	if e, ok := b.exps[string(key)]; ok {
		return uint32(e)
	}
	if b.hasRest {
		return uint32(b.rest)
	}
	// Warm-up: N traces so far in this period against half the budget.
	half := b.perMinute / 2
	if half == 0 {
		return fw4MaxExponent
	}
	return uint32(min(b.summary.n/half, fw4MaxExponent))
}

// roll starts a new period when a minute has passed. A period without a
// single trace leaves no table behind, as Envoy's timer would.
func (b *atmBudget) roll(now time.Time) {
	d := now.Sub(b.start)
	if d < atmPeriod {
		return
	}
	n := d / atmPeriod
	b.update()
	if n > 1 {
		b.update()
	}
	b.start = b.start.Add(n * atmPeriod)
}

// update computes the exponents from this period's counts and resets them.
//
// Counts are Space-Saving estimates: a key counted since it took over
// another's counter has count-err traces for sure. What the summary cannot
// attribute (n minus those sure counts, mostly keys too rare to keep a
// counter) is put on the rest bucket, the rarest key, whose exponent unseen
// keys get: so the effective count predicts what the next period keeps if
// traffic stays the same.
func (b *atmBudget) update() {
	top := b.summary.top()
	b.exps = make(map[string]uint8, len(top))
	b.hasRest = len(top) > 0
	if !b.hasRest {
		b.summary.reset()
		return
	}
	counts := make([]uint64, len(top))
	var sure uint64
	for i, c := range top {
		counts[i] = c.count - c.err
		sure += counts[i]
	}
	last := len(top) - 1
	counts[last] += b.summary.n - sure
	order := make([]int, len(top))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return cmp.Compare(counts[j], counts[i]) })
	sorted := make([]uint64, len(top))
	for i, k := range order {
		sorted[i] = counts[k]
	}
	es := atmExponents(sorted, b.perMinute)
	for i, k := range order {
		b.exps[top[k].key] = es[i]
		if k == last {
			b.rest = es[i]
		}
	}
	b.summary.reset()
}

// atmExponents returns a sampling exponent for each count (sorted from most
// to least frequent) so that the effective count Σ count/2^e comes close to
// budget from above. As in Envoy: each key is allowed budget/len(counts) and
// gets the largest e with 2^e <= count/allowed; while the effective count is
// under budget, exponents are lowered one step at a time from the rarest key,
// for at most atmFillPasses passes. Then, unlike Envoy, whose result can
// exceed the budget by up to twice, exponents are raised one step per key and
// pass, from the most frequent key, as long as the effective count stays at
// or over budget.
func atmExponents(counts []uint64, budget uint64) []uint8 {
	es := make([]uint8, len(counts))
	if len(counts) == 0 || budget == 0 {
		return es
	}
	allowed := max(budget/uint64(len(counts)), 1)
	for i, c := range counts {
		wanted := c / allowed
		e := uint8(0)
		for wanted > 1<<e && e < fw4MaxExponent {
			e++
		}
		if wanted < 1<<e && e > 0 {
			e--
		}
		es[i] = e
	}

	eff := effectiveCount(counts, es)
fill:
	for pass := 0; eff < budget && pass < atmFillPasses; pass++ {
		for i := len(counts) - 1; i >= 0; i-- {
			if es[i] > 0 {
				es[i]--
			}
			if eff = effectiveCount(counts, es); eff >= budget {
				break fill
			}
		}
	}

	for raised := true; raised; {
		raised = false
		for i, c := range counts {
			if es[i] == fw4MaxExponent {
				continue
			}
			if d := c>>es[i] - c>>(es[i]+1); d > 0 && eff >= budget+d {
				es[i]++
				eff -= d
				raised = true
			}
		}
	}
	return es
}

// effectiveCount is the number of traces counts would have kept under es.
func effectiveCount(counts []uint64, es []uint8) uint64 {
	var n uint64
	for i, c := range counts {
		n += c >> es[i]
	}
	return n
}

// spaceSaving is the Space-Saving stream summary (Metwally, Agrawal and El
// Abbadi): k counters; an unseen key takes over the smallest counter and
// increments it, so the counts add up to n and frequent keys are never lost.
type spaceSaving struct {
	k        int
	counters []ssCounter
	index    map[string]int // key → position in counters
	n        uint64         // keys offered
}

type ssCounter struct {
	key   string
	count uint64 // an upper bound of the key's count
	err   uint64 // count - err is a lower bound
}

func (s *spaceSaving) offer(key []byte) {
	s.n++
	if i, ok := s.index[string(key)]; ok {
		s.counters[i].count++
		return
	}
	k := string(key)
	if len(s.counters) < s.k {
		s.index[k] = len(s.counters)
		s.counters = append(s.counters, ssCounter{key: k, count: 1})
		return
	}
	m := 0
	for i := range s.counters {
		if s.counters[i].count < s.counters[m].count {
			m = i
		}
	}
	delete(s.index, s.counters[m].key)
	min := s.counters[m].count
	s.counters[m] = ssCounter{key: k, count: min + 1, err: min}
	s.index[k] = m
}

// top returns the counters from most to least frequent.
func (s *spaceSaving) top() []ssCounter {
	top := slices.Clone(s.counters)
	slices.SortFunc(top, func(a, b ssCounter) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	return top
}

func (s *spaceSaving) reset() {
	s.counters = s.counters[:0]
	clear(s.index)
	s.n = 0
}
