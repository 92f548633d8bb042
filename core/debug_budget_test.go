package core

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

func TestDebugBudget(t *testing.T) {
	for _, keys := range []uint64{50, 499, 5000} {
		now := time.Unix(0, 0)
		b := newATMBudget(1000, func() time.Time { return now })
		rng := rand.New(rand.NewPCG(1, 2))
		zipf := rand.NewZipf(rng, 1.2, 1, keys)
		for m := 0; m < 6; m++ {
			sampled := 0
			perExp := map[uint32]int{}
			restUsed := 0
			for i := 0; i < 10000; i++ {
				route := "/route/" + strconv.FormatUint(zipf.Uint64(), 10)
				e := b.exponent("GET", "_", route)
				if _, ok := b.exps["GET_"+route]; !ok {
					restUsed++
				}
				perExp[e]++
				if rng.Uint64()&(1<<e-1) == 0 {
					sampled++
				}
				now = now.Add(6 * time.Millisecond)
			}
			t.Logf("keys %d minute %d sampled %d restUsed %d rest=%d perExp=%v", keys, m, sampled, restUsed, b.rest, perExp)
		}
	}
}
