package core

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestATMExponents(t *testing.T) {
	tests := []struct {
		name   string
		give   []atmBucket
		budget uint64
		want   []uint8
	}{
		{name: "under budget", give: []atmBucket{{500, 1}, {400, 1}}, budget: 1000, want: []uint8{0, 0}},
		{name: "one key", give: []atmBucket{{10000, 1}}, budget: 1000, want: []uint8{4}}, // 625: 1250 would exceed
		{
			// Rare keys are kept whole; the water level (1000-30)/2 = 485
			// goes to the two frequent keys: 250 + 250, then the rarer of
			// them doubles.
			name:   "rare keys whole",
			give:   []atmBucket{{8000, 1}, {4000, 1}, {20, 1}, {10, 1}},
			budget: 1000, want: []uint8{5, 3, 0, 0}, // 250 + 500 + 30
		},
		{
			name:   "rest bucket weighs as its keys",
			give:   []atmBucket{{8000, 1}, {2000, 40}},
			budget: 1000, want: []uint8{4, 2}, // level 24.4: 15 + 500, then what fits: 500 + 500
		},
		{name: "exponent capped", give: []atmBucket{{1 << 40, 1}}, budget: 10, want: []uint8{15}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := atmExponents(tt.give, tt.budget)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("atmExponents = %v (effective %d), want %v (effective %d)",
					got, effectiveCount(tt.give, got), tt.want, effectiveCount(tt.give, tt.want))
			}
		})
	}
}

func TestSpaceSaving(t *testing.T) {
	s := spaceSaving{k: 3, index: map[string]int{}}
	for _, k := range []string{"a", "a", "a", "a", "b", "b", "b", "c", "d", "e", "a"} {
		s.offer([]byte(k))
	}
	var sum uint64
	for _, c := range s.counters {
		sum += c.count
	}
	if sum != s.n || s.n != 11 {
		t.Errorf("counts add up to %d, n = %d; want 11", sum, s.n)
	}
	top := s.top()
	if top[0] != (ssCounter{key: "a", count: 5}) || top[1] != (ssCounter{key: "b", count: 3}) {
		t.Errorf("top = %+v, want a 5 and b 3 exact", top)
	}
	if top[2].key != "e" || top[2].count != 3 || top[2].err != 2 {
		t.Errorf("last = %+v, want e 3 with error 2", top[2])
	}
}

func TestATMBudgetKeyLimit(t *testing.T) {
	now := time.Unix(0, 0)
	b := newATMBudget(10, func() time.Time { return now })
	long := string(make([]byte, 1000))
	for i := range 500 {
		b.exponent("GET", "_", long+strconv.Itoa(i))
	}
	for _, c := range b.summary.counters {
		if len(c.key) > atmMaxKeyBytes {
			t.Fatalf("key of %d bytes kept", len(c.key))
		}
	}
	if len(b.summary.counters) != 1 {
		t.Errorf("%d counters, want 1: keys are cut before the difference", len(b.summary.counters))
	}
}
