package core

import (
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// Test vectors: the Dynatrace reference (tenant testTenant, cluster 123) and
// the valid/invalid vectors of Dynatrace's Go agent (core/internal/fw4).

func TestMurmur64AChecksumVector(t *testing.T) {
	const give = ";2h01;7hbab147a0e439a28b"
	if got, want := murmur64A(give, fw4ChecksumSeed), uint64(0x462ab7cbe82ef6c1); got != want {
		t.Errorf("murmur64A(%q) = %#x, want %#x", give, got, want)
	}
	if got, want := murmur64A([]byte(give), fw4ChecksumSeed), murmur64A(give, fw4ChecksumSeed); got != want {
		t.Errorf("murmur64A over bytes = %#x, over string %#x", got, want)
	}
}

func TestTenantHash(t *testing.T) {
	tests := []struct {
		give string
		want int32
	}{
		{give: "testTenant", want: 0x34d2ae74},
		{give: "tenant", want: 1238414539},
		{give: "jmw13303", want: 1292943070},
		{give: "äpfel", want: 1997722269}, // ä → '?'
		{give: "200082", want: 160529318},
		{give: "200085", want: -253261892},
		{give: "200089", want: -1763495057},
		{give: "200090", want: 1366648315},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := tenantHash(tt.give); got != tt.want {
				t.Errorf("tenantHash(%q) = %d, want %d", tt.give, got, tt.want)
			}
		})
	}
}

func TestDTIdentity(t *testing.T) {
	id := newDTIdentity(DynatraceConfig{Tenant: "testTenant", ClusterID: 123})
	if id == nil {
		t.Fatal("newDTIdentity = nil")
	}
	if id.tenantID != 886222452 || id.key != "34d2ae74-7b@dt" {
		t.Errorf("identity = %d %q, want 886222452 %q", id.tenantID, id.key, "34d2ae74-7b@dt")
	}
	for _, give := range []DynatraceConfig{{}, {Tenant: "t"}, {ClusterID: 1}} {
		if id := newDTIdentity(give); id != nil {
			t.Errorf("newDTIdentity(%+v) = %+v, want nil", give, id)
		}
	}
	if got, want := fw4Key(-1769303221, -1723916453), "968a934b-993f1f5b@dt"; got != want {
		t.Errorf("fw4Key(negative ids) = %q, want %q", got, want)
	}
}

func TestEncodedLinkID(t *testing.T) {
	tag := fw4Tag{encLinkID: 0x180000AB}
	if tag.ignored() || tag.exponent() != 3 || tag.linkID() != 171 {
		t.Errorf("0x180000AB: ignored %v, exponent %d, link %d; want false, 3, 171",
			tag.ignored(), tag.exponent(), tag.linkID())
	}
}

// TestReferenceRootTag is the byte-exact example of the reference: a new
// local root for testTenant/123, path info 0x2a, span bab147a0e439a28b.
func TestReferenceRootTag(t *testing.T) {
	id := newDTIdentity(DynatraceConfig{Tenant: "testTenant", ClusterID: 123})
	root := id.rootTag(0x2a << 56)
	tid := mustTraceID(t, "e0875c4a1b2c3d4e5f60718293a46048")
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: mustSpanID(t, "bab147a0e439a28b"), TraceFlags: trace.FlagsSampled,
	})
	out := root.propagate(sc)

	if got, want := string(appendEntry(nil, id.key, &out)), "34d2ae74-7b@dt=fw4;0;0;0;0;0;0;2a;f6c1;2h01;7hbab147a0e439a28b"; got != want {
		t.Errorf("tracestate entry = %q, want %q", got, want)
	}
	// The reference shortens the trace id of its x-dynatrace example; the
	// core fields are checked here, the extension block by the round trip.
	h := string(out.appendHeader(nil))
	if want := "FW4;123;0;0;0;0;886222452;42;"; !strings.HasPrefix(h, want) {
		t.Errorf("x-dynatrace = %q, want prefix %q", h, want)
	}
	if want := ";2h01;6h" + tid.String() + ";7hbab147a0e439a28b"; !strings.HasSuffix(h, want) {
		t.Errorf("x-dynatrace = %q, want suffix %q", h, want)
	}
	back, err := parseXDynatrace(h)
	if err != nil || back != out {
		t.Errorf("parseXDynatrace(%q) = %+v, %v; want %+v", h, back, err, out)
	}
}

func TestFW4Vectors(t *testing.T) {
	tests := []struct {
		name       string
		give       string // tracestate member, key=value
		giveHeader string // the same tag as x-dynatrace
		want       string // canonical member; "" = give
		wantHeader string // canonical header; "" = giveHeader
	}{
		{
			name:       "custom blob and other extensions",
			give:       "11-81@dt=fw4;1;20e;0;0;0;0;4d;69b9;1h02230045880011;2h01;3h020e;4h00;5h01",
			giveHeader: "FW4;129;1;526;0;0;17;77;69b9;1h02230045880011;2h01;3h020e;4h00;5h01",
		},
		{
			name:       "no extensions",
			give:       "11-81@dt=fw4;1;2;3;4;0;0;3039",
			giveHeader: "FW4;129;1;2;3;4;17;12345",
		},
		{
			name:       "negative agent id",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345",
		},
		{
			name:       "custom blob",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;727c;1h48656c6c6f2c20576f726c6421",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;727c;1h48656c6c6f2c20576f726c6421",
		},
		{
			name:       "only an unknown extension",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;e9ae;999h48656c6c6f2c20576f726c6421",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;e9ae;999h48656c6c6f2c20576f726c6421",
			want:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039",
			wantHeader: "FW4;666;1;-332051242;1;2;113948091;12345",
		},
		{
			name:       "unknown extension and custom blob",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;f21a;999h4865;1h48656c6c6f2c20576f726c6421",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;f21a;999h4865;1h48656c6c6f2c20576f726c6421",
			want:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;727c;1h48656c6c6f2c20576f726c6421",
			wantHeader: "FW4;666;1;-332051242;1;2;113948091;12345;727c;1h48656c6c6f2c20576f726c6421",
		},
		{
			name:       "custom blob with NULs",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;e663;1h0000ab0000",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;e663;1h0000ab0000",
		},
		{
			name:       "extreme core values",
			give:       "6cab5bb-29a@dt=fw4;7fffffff;80000000;1;2;0;0;1e240",
			giveHeader: "FW4;666;2147483647;-2147483648;1;2;113948091;123456",
		},
		{
			name:       "extensions out of order",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;4095;2h0123;1h48656c6c6f2c20576f726c6421",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;4095;2h0123;1h48656c6c6f2c20576f726c6421",
			want:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;4589;1h48656c6c6f2c20576f726c6421;2h0123",
			wantHeader: "FW4;666;1;-332051242;1;2;113948091;12345;4589;1h48656c6c6f2c20576f726c6421;2h0123",
		},
		{
			name:       "token without h first",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;5719;57x123;1h11223344",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;5719;57x123;1h11223344",
			want:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;f00d;1h11223344",
			wantHeader: "FW4;666;1;-332051242;1;2;113948091;12345;f00d;1h11223344",
		},
		{
			name:       "unknown type g first",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;7c1f;88g123;1h11223344",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;7c1f;88g123;1h11223344",
			want:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;f00d;1h11223344",
			wantHeader: "FW4;666;1;-332051242;1;2;113948091;12345;f00d;1h11223344",
		},
		{
			name:       "unknown type g last",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;5600;1h11223344;23g123",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;5600;1h11223344;23g123",
			want:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;f00d;1h11223344",
			wantHeader: "FW4;666;1;-332051242;1;2;113948091;12345;f00d;1h11223344",
		},
		{
			name:       "negative extension value",
			give:       "11-81@dt=fw4;1;fffffffe;3;4;0;0;3039;4061;3hfffffffe",
			giveHeader: "FW4;129;1;-2;3;4;17;12345;4061;3hfffffffe",
		},
		{
			name:       "trace and span id",
			give:       "11-81@dt=fw4;1;20e;0;0;0;0;457;e672;6hd728b0e6d2c9d2dbbfc086bdb6e0f6dd;7hb2c389f43fbb6576",
			giveHeader: "FW4;129;1;526;0;0;17;1111;e672;6hd728b0e6d2c9d2dbbfc086bdb6e0f6dd;7hb2c389f43fbb6576",
		},
		{
			name:       "tag depth",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;b03b;2h0123",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;b03b;2h0123",
		},
		{
			name:       "tag depth nearly overflows",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;4253;2h7fffffff",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;4253;2h7fffffff",
		},
		{
			name:       "tag depth -1 is not written",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;e6ad;2hffffffff",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;e6ad;2hffffffff",
			want:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039",
			wantHeader: "FW4;666;1;-332051242;1;2;113948091;12345",
		},
		{
			name:       "negative tag depth is not written",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;5c62;2hf0000001",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;5c62;2hf0000001",
			want:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039",
			wantHeader: "FW4;666;1;-332051242;1;2;113948091;12345",
		},
		{
			name:       "tag depth 0 is not written",
			give:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039;57ea;2h00",
			giveHeader: "FW4;666;1;-332051242;1;2;113948091;12345;57ea;2h00",
			want:       "6cab5bb-29a@dt=fw4;1;ec354cd6;1;2;0;0;3039",
			wantHeader: "FW4;666;1;-332051242;1;2;113948091;12345",
		},
		{
			name:       "minimal",
			give:       "11-81@dt=fw4;4;1;2;3;0;0;1",
			giveHeader: "FW4;129;4;1;2;3;17;1",
		},
		{
			name:       "minimal with custom blob",
			give:       "11-81@dt=fw4;4;1;2;3;0;0;1;727c;1h48656c6c6f2c20576f726c6421",
			giveHeader: "FW4;129;4;1;2;3;17;1;727c;1h48656c6c6f2c20576f726c6421",
		},
		{
			name:       "ignored, all extensions",
			give:       "11-81@dt=fw4;1;20e;0;0;1;0;21df;a515;2h01;3h020e;4h00;5h01;6h1c90dcad033ff3444ba500dc717df3e6;7he0989607a1448c20",
			giveHeader: "FW4;129;1;526;0;-2147483648;17;8671;a515;2h01;3h020e;4h00;5h01;6h1c90dcad033ff3444ba500dc717df3e6;7he0989607a1448c20",
		},
		{
			name:       "negative tenant",
			give:       "968a934b-81@dt=fw4;1;2;3;4;0;0;3039",
			giveHeader: "FW4;129;1;2;3;4;-1769303221;12345",
		},
		{
			name:       "negative cluster",
			give:       "9b-993f1f5b@dt=fw4;1;2;3;4;0;0;3039",
			giveHeader: "FW4;-1723916453;1;2;3;4;155;12345",
		},
		{
			name:       "negative tenant and cluster",
			give:       "968a934b-993f1f5b@dt=fw4;1;2;3;4;0;0;3039",
			giveHeader: "FW4;-1723916453;1;2;3;4;-1769303221;12345",
		},
		{
			name:       "trace id in the header only",
			give:       "11-81@dt=fw4;1;20e;0;0;0;0;3039;ce1f;2h01;6h11223344556677889900112233445566;7h663055fc5bca216f",
			giveHeader: "FW4;129;1;526;0;0;17;12345;ce1f;2h01;6h11223344556677889900112233445566;7h663055fc5bca216f",
		},
		{
			name:       "reference root tag, first hop",
			give:       "34d2ae74-7b@dt=fw4;0;0;0;0;0;0;2a;f6c1;2h01;7hbab147a0e439a28b",
			giveHeader: "FW4;123;0;0;0;0;886222452;42;f6c1;2h01;7hbab147a0e439a28b",
		},
		{
			name:       "ignored with link id",
			give:       "34d2ae74-7b@dt=fw4;5;f;21;43;1;0;0;7db5;2h01;7h8877665544332211",
			giveHeader: "FW4;123;5;15;33;-2147483581;886222452;0;7db5;2h01;7h8877665544332211",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, value, _ := strings.Cut(tt.give, "=")
			fromHeader, err := parseXDynatrace(tt.giveHeader)
			if err != nil {
				t.Fatalf("parseXDynatrace(%q): %v", tt.giveHeader, err)
			}
			fromValue, err := parseFW4Value(value)
			if err != nil {
				t.Fatalf("parseFW4Value(%q): %v", value, err)
			}
			fromValue.tenantID, fromValue.clusterID = fromHeader.tenantID, fromHeader.clusterID
			if fromValue != fromHeader {
				t.Errorf("tracestate and header parse differently:\n%+v\n%+v", fromValue, fromHeader)
			}
			if got := fw4Key(fromHeader.tenantID, fromHeader.clusterID); got != key {
				t.Errorf("fw4Key = %q, want %q", got, key)
			}

			want, wantHeader := tt.want, tt.wantHeader
			if want == "" {
				want = tt.give
			}
			if wantHeader == "" {
				wantHeader = tt.giveHeader
			}
			if got := key + "=" + string(fromValue.appendValueWith(nil, true)); got != want {
				t.Errorf("tracestate member = %q, want %q", got, want)
			}
			if got := string(fromHeader.appendHeader(nil)); got != wantHeader {
				t.Errorf("x-dynatrace = %q, want %q", got, wantHeader)
			}

			// Our tracestate form leaves the trace id out and parses back.
			v := string(fromValue.appendValue(nil))
			if strings.Contains(v, ";6h") {
				t.Errorf("appendValue = %q, has a trace id", v)
			}
			back, err := parseFW4Value(v)
			if err != nil {
				t.Fatalf("parseFW4Value(%q): %v", v, err)
			}
			back.tenantID, back.clusterID, back.traceID = fromValue.tenantID, fromValue.clusterID, fromValue.traceID
			if canon(back) != canon(fromValue) {
				t.Errorf("round trip of %q = %+v, want %+v", v, back, fromValue)
			}
		})
	}
}

// TestFW4ValueWithoutTraceID: Dynatrace's tracestate form of a tag that has
// a trace id, with and without it.
func TestFW4ValueWithoutTraceID(t *testing.T) {
	tag, err := parseXDynatrace("FW4;129;1;526;0;0;17;12345;ce1f;2h01;6h11223344556677889900112233445566;7h663055fc5bca216f")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(tag.appendValue(nil)), "fw4;1;20e;0;0;0;0;3039;28aa;2h01;7h663055fc5bca216f"; got != want {
		t.Errorf("appendValue = %q, want %q", got, want)
	}
	if got, want := string(tag.appendValueWith(nil, true)), "fw4;1;20e;0;0;0;0;3039;ce1f;2h01;6h11223344556677889900112233445566;7h663055fc5bca216f"; got != want {
		t.Errorf("appendValueWith trace id = %q, want %q", got, want)
	}
}

func TestFW4Propagate(t *testing.T) {
	parent, err := parseFW4Value("fw4;1;2;3;4;0;0;6;8355;2h01;7haaffffeebbaabbee")
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: mustTraceID(t, "11223344556677889900112233445566"), SpanID: mustSpanID(t, "8877665544332211"),
	})
	out := parent.propagate(sc) // not sampled: ignored
	if got, want := string(out.appendValue(nil)), "fw4;1;0;0;0;1;0;6;5561;2h02;7h8877665544332211"; got != want {
		t.Errorf("propagated = %q, want %q", got, want)
	}

	parent.encLinkID = 1<<31 | 5<<27 | 77
	parent.tagDepth = 1<<31 - 1
	out = parent.propagate(sc.WithTraceFlags(trace.FlagsSampled))
	if out.ignored() || out.exponent() != 5 || out.linkID() != 0 || out.tagDepth != 1<<31-1 {
		t.Errorf("propagated: ignored %v, exponent %d, link %d, depth %d; want false 5 0 max",
			out.ignored(), out.exponent(), out.linkID(), out.tagDepth)
	}
}

func TestFW4Exponent(t *testing.T) {
	tests := []struct {
		give string
		want uint32
	}{
		{give: "fw4;0;0;0;0;0;3;2a", want: 3},
		{give: "fw4;0;0;0;0;0;a;2a", want: 10},
		{give: "fw4;0;0;0;0;0;F;2a", want: 15},
		{give: "fw4;0;0;0;0;0;0f;2a", want: 15},
		{give: "fw4;0;0;0;0;0;10;2a", want: 10}, // Envoy writes decimal
		{give: "fw4;0;0;0;0;1;15;2a", want: 15},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			tag, err := parseFW4Value(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if tag.exponent() != tt.want {
				t.Errorf("exponent = %d, want %d", tag.exponent(), tt.want)
			}
			if tag.pathInfo != 0x2a {
				t.Errorf("path info = %#x, want 0x2a", tag.pathInfo)
			}
		})
	}
}

func TestParseFW4ValueInvalid(t *testing.T) {
	tests := []struct {
		give string
		want error
	}{
		{give: "", want: errFW4Prefix},
		{give: "fw3;1;2;3;4;0;0;3039", want: errFW4Prefix},
		{give: "FW4;1;2;3;4;0;0;3039", want: errFW4Prefix},
		{give: "fw4;1;2;3;4;0;0;3039;c72d;1h48656c6c6f2c20576f726c642", want: errFW4Extension}, // odd blob
		{give: "fw4;1;g;3;4;0;0;3039", want: errFW4Field},
		{give: "fw4;-1;2;3;4;0;0;3039", want: errFW4Field},
		{give: "fw4;1;2;3;4;0;0", want: errFW4Fields},
		{give: "fw4;1;2;3;4;0;0;", want: errFW4Field},
		{give: "fw4;1;2;3;4;0;0;;", want: errFW4Field},
		{give: "fw4;1;ffffffffffffffffffff;3;4;0;0;3039", want: errFW4Field},
		{give: "fw4;1;2;3;4;0;0;3039;11111;1h0000ab0000", want: errFW4Checksum},
		{give: "fw4;1;2;3;4;0;0;3039;1111;1h0000ab0000", want: errFW4Mismatch},
		{give: "fw4;1;2;3;4;0;0;3039;", want: errFW4Checksum},
		{give: "fw4;1;2;3;4;0;0;3039;zzzz;2h01", want: errFW4Checksum},
		{give: "fw4;1;2;3;4;2;0;3039", want: errFW4Field},       // ignored is 0 or 1
		{give: "fw4;1;2;3;4;0;16;3039", want: errFW4Field},      // exponent > 15
		{give: "fw4;1;2;3;8000000;0;0;3039", want: errFW4Field}, // link id > 27 bits
		{give: "fw4;1;2;3;4;0;0;123456789", want: errFW4Field},  // 9 hex digits
		{give: "fw4;1;2;3;4;0;0;3039;" + "0000" + strings.Repeat("x", 260), want: errFW4Length},
		{give: withChecksum("fw4;0;0;0;0;0;0;0", ";2h1"), want: errFW4Extension},   // odd int
		{give: withChecksum("fw4;0;0;0;0;0;0;0", ";2h"), want: errFW4Extension},    // empty int
		{give: withChecksum("fw4;0;0;0;0;0;0;0", ";x2h01"), want: errFW4Extension}, // id not decimal
		{give: withChecksum("fw4;0;0;0;0;0;0;0", ";2h0000000001"), want: errFW4Extension},
		{give: withChecksum("fw4;0;0;0;0;0;0;0", ";7h0000000000000000"), want: errFW4Extension},
		{give: withChecksum("fw4;0;0;0;0;0;0;0", ";7hAAFFFFEEBBAABBEE"), want: errFW4Extension},
		{give: withChecksum("fw4;0;0;0;0;0;0;0", ";6h00000000000000000000000000000000"), want: errFW4Extension},
		{give: withChecksum("fw4;0;0;0;0;0;0;0", strings.Repeat(";9h", 65)), want: errFW4Extensions},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			tag, err := parseFW4Value(tt.give)
			if !errors.Is(err, tt.want) {
				t.Errorf("parseFW4Value(%q) = %+v, %v; want error %v", tt.give, tag, err, tt.want)
			}
		})
	}
}

func TestParseXDynatraceInvalid(t *testing.T) {
	tests := []struct {
		give string
		want error
	}{
		{give: "", want: errFW4Prefix},
		{give: "fw4;666;1;-332051242;1;2;113948091;12345", want: errFW4Prefix},
		{give: "FW3;666;1;-332051242;1;2;113948091;12345", want: errFW4Prefix},
		{give: "FW4;666;1;-332051242;1;2;113948091;12345;c72d;1h48656c6c6f2c20576f726c642", want: errFW4Extension},
		{give: "FW4;666;1;343434343434332051242;1;2;113948091;12345", want: errFW4Field},
		{give: "FW4;666;1;-332051242;1;2;113948091;12345;", want: errFW4Checksum},
		{give: "FW4;", want: errFW4Fields},
		{give: "FW4;2;X;4;5;6;7;8", want: errFW4Field},
		{give: "FW4;2;3;-1;6;7", want: errFW4Fields},
		{give: "FW4;2;3;4;6;6", want: errFW4Fields},
		{give: "FW4;22222;2;3;-1;5;11111;1h0000ab0000", want: errFW4Field},
		{give: "FW4;22222;2;3;-1;5;11111;1;1234;991h000ab0000", want: errFW4Mismatch},
		{give: "FW4;22222;2;3;-1;5;11111;1;1234", want: errFW4Mismatch},
		{give: "FW4;2147483648;1;2;3;4;5;6", want: errFW4Field},
		{give: "FW4;-2147483649;1;2;3;4;5;6", want: errFW4Field},
		{give: "FW4;1;2;3;4;5;6;" + strings.Repeat("9", fw4MaxHeaderLen), want: errFW4Length},
		{give: "FW4;129;1;526;0;0;17;12345;0f61;2h01;6h00000000000000000000000000000000;7h663055fc5bca216f", want: errFW4Extension},
		{give: "FW4;129;1;526;0;0;17;12345;47a6;2h01;6h11223344556677889900112233445566;7h0000000000000000", want: errFW4Extension},
		{give: withChecksum("FW4;1;2;3;4;5;6;7", ";1h"+strings.Repeat("00", fw4MaxBlobLen+1)), want: errFW4Extension},
	}
	for _, tt := range tests {
		t.Run(tt.give[:min(len(tt.give), 80)], func(t *testing.T) {
			tag, err := parseXDynatrace(tt.give)
			if !errors.Is(err, tt.want) {
				t.Errorf("parseXDynatrace(%q) = %+v, %v; want error %v", tt.give, tag, err, tt.want)
			}
		})
	}
}

func TestParseXDynatraceLenient(t *testing.T) {
	// Accepted as Dynatrace's agent accepts them; written canonically.
	tests := []struct{ give, want string }{
		{give: "FW4;+129;01;526;0;0;17;12345", want: "FW4;129;1;526;0;0;17;12345"},
		{give: withChecksum("FW4;129;1;526;0;0;17;12345", ";;2h01;"), want: "FW4;129;1;526;0;0;17;12345;" + checksumOf(";2h01") + ";2h01"},
		{give: withChecksum("FW4;129;1;526;0;0;17;12345", ";1hABCDEF"), want: "FW4;129;1;526;0;0;17;12345;" + checksumOf(";1habcdef") + ";1habcdef"},
		{give: "FW4;129;1;526;0;0;17;12345;" + checksumOf("") + "", want: "FW4;129;1;526;0;0;17;12345"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			tag, err := parseXDynatrace(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(tag.appendHeader(nil)); got != tt.want {
				t.Errorf("appendHeader = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppendEntryDropsLargeBlob(t *testing.T) {
	h := withChecksum("FW4;123;0;0;0;0;886222452;1", ";1h"+strings.Repeat("ab", 200)+";7h8877665544332211")
	tag, err := parseXDynatrace(h)
	if err != nil {
		t.Fatal(err)
	}
	e := string(appendEntry(nil, "34d2ae74-7b@dt", &tag))
	if want := "34d2ae74-7b@dt=fw4;0;0;0;0;0;0;1;" + checksumOf(";7h8877665544332211") + ";7h8877665544332211"; e != want {
		t.Errorf("appendEntry = %q, want %q", e, want)
	}
	if got := string(tag.appendHeader(nil)); got != h {
		t.Errorf("appendHeader = %q, want the blob kept", got)
	}
}

// canon returns t as it reads back after formatting: custom blob in lower
// case, values that are not written reset.
func canon(t fw4Tag) fw4Tag {
	t.blob = strings.ToLower(t.blob)
	t.tagDepth = max(t.tagDepth, 0)
	t.entryTagID = max(t.entryTagID, -1)
	return t
}

func checksumOf(ext string) string {
	b := []byte(";0000" + ext)
	const digits = "0123456789abcdef"
	sum := uint16(murmur64A(ext, fw4ChecksumSeed))
	b[1], b[2], b[3], b[4] = digits[sum>>12], digits[sum>>8&0xf], digits[sum>>4&0xf], digits[sum&0xf]
	return string(b[1:5])
}

// withChecksum returns core + ";" + checksum + ext.
func withChecksum(core, ext string) string { return core + ";" + checksumOf(ext) + ext }

func mustTraceID(t testing.TB, h string) trace.TraceID {
	t.Helper()
	id, err := trace.TraceIDFromHex(h)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustSpanID(t testing.TB, h string) trace.SpanID {
	t.Helper()
	id, err := trace.SpanIDFromHex(h)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
