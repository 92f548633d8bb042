package core

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"
)

// The root-spans-per-minute budget follows the adaptive traffic management
// of Dynatrace's Envoy sampler: traces are counted per sampling key in a
// Space-Saving summary of the top 100 keys; once a minute every key gets a
// power-of-two sampling exponent from those counts; a key not in the table
// gets the exponent of the "rest bucket"; until a table exists the exponent
// grows with the number of traces seen. How the exponents are computed from
// the counts differs from Envoy (see update and atmExponents): Envoy's can
// keep up to twice the budget, these stay within a few per cent of it.
const (
	atmPeriod      = time.Minute
	atmTopK        = 100
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

// exponent counts one trace under the key a+sep+c and returns the sampling
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
// Space-Saving counts are upper bounds; a key that took over another's
// counter is counted for sure only since then (count - err). Keys counted
// reliably (err < count/2) get their own exponent. The rest of the traffic
// (n minus the reliable keys' sure counts: keys too rare to hold a counter
// and those whose counter is mostly inherited) forms the rest bucket, weighted
// as one key per unreliable counter, and its exponent goes to every key not
// in the table. Without such traffic the rest bucket is the rarest key, as in
// Envoy. Either way the effective count predicts what the next period keeps
// if the traffic stays the same.
func (b *atmBudget) update() {
	defer b.summary.reset()
	top := b.summary.top()
	b.exps = make(map[string]uint8, len(top))
	b.hasRest = len(top) > 0
	if !b.hasRest {
		return
	}
	var (
		keys    []string
		buckets []atmBucket
		sure    uint64
		rest    atmBucket
	)
	for _, c := range top {
		if c.err < c.count/2 || c.err == 0 {
			keys = append(keys, c.key)
			buckets = append(buckets, atmBucket{count: c.count - c.err, weight: 1})
			sure += c.count - c.err
		} else {
			rest.weight++
		}
	}
	if rest.count = b.summary.n - sure; rest.count > 0 {
		keys = append(keys, "")
		buckets = append(buckets, atmBucket{count: rest.count, weight: max(rest.weight, 1)})
	}
	es := atmExponents(buckets, b.perMinute)
	for i, k := range keys {
		if k != "" {
			b.exps[k] = es[i]
		}
	}
	b.rest = es[len(es)-1] // the rest bucket, or else the rarest key
}

// atmBucket is the traffic of weight keys in one period.
type atmBucket struct {
	count  uint64
	weight uint64 // keys it stands for, >= 1
}

// cmp compares the traffic per key of a and o.
func (a atmBucket) cmp(o atmBucket) int { return cmp.Compare(a.count*o.weight, o.count*a.weight) }

// atmExponents returns a sampling exponent for each bucket so that the
// effective count Σ count/2^e comes as close to budget as powers of two
// allow, keys with little traffic are kept whole and frequent ones thinned.
//
// Envoy gives every key budget/(number of keys), rounds each exponent down
// and then lowers exponents from the rarest key while under budget; that can
// keep up to twice the budget, and more when one bucket dominates. Here the
// allowance is a water level instead: the largest L with Σ min(count, L·weight)
// <= budget, so what rare keys leave unused goes to the others. Each bucket
// above it gets the smallest exponent that keeps it within its share, which
// lands at or under budget; exponents are then lowered, rarest bucket first,
// while that brings the effective count closer to budget.
func atmExponents(buckets []atmBucket, budget uint64) []uint8 {
	es := make([]uint8, len(buckets))
	if len(buckets) == 0 {
		return es
	}
	var total uint64
	for _, b := range buckets {
		total += b.count
	}
	if total <= budget {
		return es
	}

	// The water level, from the rarest bucket up.
	order := make([]int, len(buckets))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return buckets[i].cmp(buckets[j]) })
	left, weight := float64(budget), 0.0
	for _, b := range buckets {
		weight += float64(b.weight)
	}
	level := 0.0
	for n, i := range order {
		b := buckets[i]
		level = left / weight
		if float64(b.count) > level*float64(b.weight) {
			break
		}
		left -= float64(b.count)
		weight -= float64(b.weight)
		if n == len(order)-1 {
			level = math.Inf(1)
		}
	}

	for i, b := range buckets {
		share := level * float64(b.weight)
		for es[i] < fw4MaxExponent && float64(b.count>>es[i]) > share {
			es[i]++
		}
	}

	// Rounding up left the effective count at or under budget. Lower
	// exponents, rarest bucket first, while a step still fits.
	eff := effectiveCount(buckets, es)
	for changed := true; changed; {
		changed = false
		for _, i := range order {
			if es[i] == 0 {
				continue
			}
			c := buckets[i].count
			if d := c>>(es[i]-1) - c>>es[i]; eff+d <= budget {
				es[i]--
				eff += d
				changed = true
			}
		}
	}
	return es
}

// effectiveCount is the number of traces buckets would have kept under es.
func effectiveCount(buckets []atmBucket, es []uint8) uint64 {
	var n uint64
	for i, b := range buckets {
		n += b.count >> es[i]
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
