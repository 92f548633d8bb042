package core

import (
	"strings"
	"testing"
)

func TestParseCloudTraceContext(t *testing.T) {
	tests := []struct {
		give        string
		wantTraceID string // "" = invalid
		wantSpanID  string
		wantSampled bool
	}{
		{give: "105445aa7843bc8bf206b12000100000/1;o=1", wantTraceID: "105445aa7843bc8bf206b12000100000", wantSpanID: "0000000000000001", wantSampled: true},
		{give: "105445aa7843bc8bf206b12000100000/12345678901234567890;o=1", wantTraceID: "105445aa7843bc8bf206b12000100000", wantSpanID: "ab54a98ceb1f0ad2", wantSampled: true},
		{give: "105445aa7843bc8bf206b12000100000/18446744073709551615;o=0", wantTraceID: "105445aa7843bc8bf206b12000100000", wantSpanID: "ffffffffffffffff"},
		{give: "105445aa7843bc8bf206b12000100000/42", wantTraceID: "105445aa7843bc8bf206b12000100000", wantSpanID: "000000000000002a"},
		{give: "105445AA7843BC8BF206B12000100000/42;o=3", wantTraceID: "105445aa7843bc8bf206b12000100000", wantSpanID: "000000000000002a", wantSampled: true},
		{give: ""},
		{give: "105445aa7843bc8bf206b12000100000"},
		{give: "105445aa7843bc8bf206b12000100000/"},
		{give: "105445aa7843bc8bf206b12000100000/0;o=1"},                    // zero span id
		{give: "00000000000000000000000000000000/1;o=1"},                    // zero trace id
		{give: "105445aa7843bc8bf206b12000100000/18446744073709551616;o=1"}, // > uint64
		{give: "105445aa7843bc8bf206b12000100000/-1;o=1"},
		{give: "105445aa7843bc8bf206b12000100000/+1;o=1"},
		{give: "105445aa7843bc8bf206b12000100000/1;o=x"},
		{give: "105445aa7843bc8bf206b12000100000/1;o="},
		{give: "105445aa7843bc8bf206b12000100000/1;x=1"},
		{give: "105445aa7843bc8bf206b1200010000/1;o=1"}, // 31 digits
		{give: "105445aa7843bc8bf206b1200010000g/1;o=1"},
		{give: "105445aa7843bc8bf206b12000100000/1 ;o=1"},
		{give: "105445aa7843bc8bf206b12000100000/1;o=1" + strings.Repeat("1", 40)}, // too long
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			sc, ok := parseCloudTraceContext(tt.give)
			if tt.wantTraceID == "" {
				if ok {
					t.Errorf("parse = %s/%s, want invalid", sc.TraceID(), sc.SpanID())
				}
				return
			}
			if !ok {
				t.Fatal("parse failed")
			}
			if sc.TraceID().String() != tt.wantTraceID || sc.SpanID().String() != tt.wantSpanID ||
				sc.IsSampled() != tt.wantSampled || !sc.IsRemote() {
				t.Errorf("parse = %s/%s sampled %v remote %v, want %s/%s %v true",
					sc.TraceID(), sc.SpanID(), sc.IsSampled(), sc.IsRemote(), tt.wantTraceID, tt.wantSpanID, tt.wantSampled)
			}
		})
	}
}
