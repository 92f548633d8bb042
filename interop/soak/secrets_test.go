package soak

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// The token check is only as good as the watch: it must see a leak of
// either token in a log line written in pieces, in an error, in a wrapped
// cause and in part of the token.
func TestLeakWatchFindsToken(t *testing.T) {
	tests := []struct {
		give func(w *leakWatch)
		want int
	}{
		{give: func(w *leakWatch) { w.logger().Info("config", "token", "[REDACTED]") }, want: 0},
		{give: func(w *leakWatch) { w.logger().Info("config", "token", Token) }, want: 1},
		{give: func(w *leakWatch) {
			_, _ = w.Write([]byte("half a line " + Token[:10]))
			_, _ = w.Write([]byte(Token[10:] + "\n"))
		}, want: 1},
		{give: func(w *leakWatch) { w.err("export", fmt.Errorf("POST: %w", errors.New("Api-Token "+Token))) }, want: 2},
		{give: func(w *leakWatch) { w.text("answer", "…"+tokenMarker+"…") }, want: 1},
		{give: func(w *leakWatch) { w.logger().Info("config", "token", RotatedToken) }, want: 1},
		{give: func(w *leakWatch) { w.err("export", errors.New("Api-Token "+RotatedToken[:len(RotatedToken)-4])) }, want: 1},
		{give: func(w *leakWatch) { w.text("answer", "…"+rotatedMarker+"…") }, want: 1},
		{give: func(w *leakWatch) { w.err("export", nil) }, want: 0},
	}
	for i, tt := range tests {
		w := newLeakWatch()
		tt.give(w)
		if got := len(w.report().Leaks); got != tt.want {
			t.Errorf("case %d: %d leaks, want %d: %q", i, got, tt.want, w.report().Leaks)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 1000; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p50, p99, maximum := percentiles(ds)
	if p50 != 500*time.Millisecond || p99 != 990*time.Millisecond || maximum != time.Second {
		t.Errorf("percentiles = %s, %s, %s; want 500ms, 990ms, 1s", p50, p99, maximum)
	}
	if p50, p99, maximum := percentiles(nil); p50 != 0 || p99 != 0 || maximum != 0 {
		t.Errorf("percentiles(nil) = %s, %s, %s", p50, p99, maximum)
	}
}
