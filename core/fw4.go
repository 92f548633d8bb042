package core

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/bits"
	"strconv"

	"go.opentelemetry.io/otel/trace"
)

// Dynatrace "Forward Tag 4" (fw4): the trace context OneAgent writes into the
// W3C tracestate entry "<tenant hash>-<cluster id>@dt" (lower-case hex fields)
// and into the x-dynatrace header (signed decimal fields). Both forms share an
// optional extension block protected by a MurmurHash2-64A checksum.
//
//	fw4;<server>;<agent>;<tag>;<link id>;<ignored 0|1>;<sampling exponent>;<path info>[;<checksum>;<id>h<hex>…]
//	FW4;<cluster>;<server>;<agent>;<tag>;<encoded link id>;<tenant>;<path info>[;<checksum>;<id>h<hex>…]

const (
	fw4ValuePrefix  = "fw4;"
	fw4HeaderPrefix = "FW4;"

	// fw4ChecksumSeed seeds MurmurHash2-64A for the extension checksum.
	fw4ChecksumSeed = 0xe17a1465

	fw4MaxBlobLen    = 0x4000                // bytes of the custom blob extension
	fw4MaxValueLen   = 256                   // a W3C tracestate value
	fw4MaxHeaderLen  = 2*fw4MaxBlobLen + 512 // an x-dynatrace header
	fw4MaxExtensions = 64                    // extension tokens, known or not
	fw4MaxExponent   = 15                    // the sampling exponent has 4 bits

	// Bits of the encoded link id.
	fw4LinkIDMask    uint32 = 1<<27 - 1
	fw4ExponentShift        = 27
	fw4IgnoredBit    uint32 = 1 << 31
)

// Extension ids.
const (
	fw4ExtCustomBlob    = 1
	fw4ExtTagDepth      = 2
	fw4ExtEntryAgentID  = 3
	fw4ExtEntryTagID    = 4
	fw4ExtPayloadBitset = 5
	fw4ExtTraceID       = 6
	fw4ExtSpanID        = 7
)

var (
	errFW4Prefix     = errors.New("fw4: missing prefix")
	errFW4Length     = errors.New("fw4: too long")
	errFW4Fields     = errors.New("fw4: too few fields")
	errFW4Field      = errors.New("fw4: malformed field")
	errFW4Checksum   = errors.New("fw4: malformed checksum")
	errFW4Mismatch   = errors.New("fw4: checksum mismatch")
	errFW4Extension  = errors.New("fw4: malformed extension")
	errFW4Extensions = errors.New("fw4: too many extensions")
)

// fw4Tag is one parsed Forward Tag 4.
type fw4Tag struct {
	clusterID int32 // from x-dynatrace; the tracestate key carries it otherwise
	tenantID  int32 // likewise
	serverID  int32
	agentID   int32
	tagID     int32
	encLinkID uint32 // ignored bit, sampling exponent and link id
	pathInfo  uint32

	// Extensions.
	blob          string // custom blob as validated hex, as received
	tagDepth      int32  // written when > 0
	entryAgentID  int32  // written when != -1
	entryTagID    int32  // written when >= 0
	payloadBitset int32  // written when != 0
	traceID       trace.TraceID
	spanID        trace.SpanID
}

// newFW4Tag returns a tag without extensions.
func newFW4Tag() fw4Tag { return fw4Tag{entryAgentID: -1, entryTagID: -1} }

func (t *fw4Tag) ignored() bool      { return t.encLinkID&fw4IgnoredBit != 0 }
func (t *fw4Tag) exponent() uint32   { return t.encLinkID >> fw4ExponentShift & 0xf }
func (t *fw4Tag) linkID() uint32     { return t.encLinkID & fw4LinkIDMask }
func (t *fw4Tag) setIgnored(ig bool) { t.encLinkID = t.encLinkID&^fw4IgnoredBit | b2u(ig)<<31 }

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// propagate returns the tag to send downstream from the span sc, which t
// governs: agent, tag and link id are cleared, the ignored bit follows the
// sampled flag, the sampling exponent is kept, the tag depth grows by one,
// server id, path info, custom blob and entry ids are copied, and trace and
// span id are sc's.
func (t *fw4Tag) propagate(sc trace.SpanContext) fw4Tag {
	p := fw4Tag{
		clusterID:    t.clusterID,
		tenantID:     t.tenantID,
		serverID:     t.serverID,
		encLinkID:    t.encLinkID &^ fw4LinkIDMask,
		pathInfo:     t.pathInfo,
		blob:         t.blob,
		tagDepth:     t.tagDepth,
		entryAgentID: t.entryAgentID,
		entryTagID:   t.entryTagID,
		traceID:      sc.TraceID(),
		spanID:       sc.SpanID(),
	}
	if p.tagDepth < math.MaxInt32 {
		p.tagDepth++
	}
	p.setIgnored(!sc.IsSampled())
	return p
}

// dtIdentity is a Dynatrace tenant and cluster, hashed and formatted once.
type dtIdentity struct {
	tenantID  int32
	clusterID int32
	key       string // the tracestate key, "<tenant hex>-<cluster hex>@dt"
}

// newDTIdentity returns nil unless cfg names both tenant and cluster.
func newDTIdentity(cfg DynatraceConfig) *dtIdentity {
	if !cfg.Enabled() {
		return nil
	}
	id := &dtIdentity{tenantID: tenantHash(cfg.Tenant), clusterID: cfg.ClusterID}
	id.key = fw4Key(id.tenantID, id.clusterID)
	return id
}

// fw4Key formats the tracestate key of a tenant and cluster.
func fw4Key(tenantID, clusterID int32) string {
	b := make([]byte, 0, 20)
	b = strconv.AppendUint(b, uint64(uint32(tenantID)), 16)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(uint32(clusterID)), 16)
	b = append(b, "@dt"...)
	return string(b)
}

// tenantHash is Dynatrace's 32-bit tenant id: the MD5 digest of the tenant
// UUID (every non-ASCII character replaced by '?') folded into one word by
// XOR-ing its four big-endian 32-bit words.
func tenantHash(tenant string) int32 {
	b := make([]byte, 0, len(tenant))
	for _, r := range tenant {
		if r > 0x7f {
			r = '?'
		}
		b = append(b, byte(r))
	}
	sum := md5.Sum(b)
	var h uint32
	for i := 0; i < len(sum); i += 4 {
		h ^= binary.BigEndian.Uint32(sum[i:])
	}
	return int32(h)
}

// rootTag returns a new tag for a trace that has none: our tenant and
// cluster, zero server, agent and tag ids, and a path info derived from the
// trace id (Dynatrace takes a random byte; a hash of the trace id keeps every
// span of the trace on the same value without a random source).
func (id *dtIdentity) rootTag(hash uint64) fw4Tag {
	t := newFW4Tag()
	t.tenantID = id.tenantID
	t.clusterID = id.clusterID
	t.pathInfo = uint32(hash >> 56)
	return t
}

// tag returns our tag from ts, if ts holds a valid one under our key.
func (id *dtIdentity) tag(ts trace.TraceState) (fw4Tag, bool) {
	v := ts.Get(id.key)
	if v == "" {
		return fw4Tag{}, false
	}
	t, err := parseFW4Value(v)
	if err != nil {
		return fw4Tag{}, false
	}
	t.tenantID = id.tenantID
	t.clusterID = id.clusterID
	return t, true
}

// parseFW4Value parses the value of a @dt tracestate entry.
func parseFW4Value(v string) (fw4Tag, error) {
	if len(v) > fw4MaxValueLen {
		return fw4Tag{}, errFW4Length
	}
	f, ext, hasExt, err := splitFW4(v, fw4ValuePrefix)
	if err != nil {
		return fw4Tag{}, err
	}
	t := newFW4Tag()
	var ok [7]bool
	var u uint32
	u, ok[0] = parseHex32(f[0])
	t.serverID = int32(u)
	u, ok[1] = parseHex32(f[1])
	t.agentID = int32(u)
	u, ok[2] = parseHex32(f[2])
	t.tagID = int32(u)
	t.encLinkID, ok[3] = parseHex32(f[3])
	ok[3] = ok[3] && t.encLinkID <= fw4LinkIDMask
	ok[4] = f[4] == "0" || f[4] == "1"
	t.setIgnored(f[4] == "1")
	u, ok[5] = parseExponent(f[5])
	t.encLinkID |= u << fw4ExponentShift
	t.pathInfo, ok[6] = parseHex32(f[6])
	if ok != [7]bool{true, true, true, true, true, true, true} {
		return fw4Tag{}, errFW4Field
	}
	if hasExt {
		if err := t.parseExtensions(ext); err != nil {
			return fw4Tag{}, err
		}
	}
	return t, nil
}

// parseXDynatrace parses an x-dynatrace header.
func parseXDynatrace(h string) (fw4Tag, error) {
	if len(h) > fw4MaxHeaderLen {
		return fw4Tag{}, errFW4Length
	}
	f, ext, hasExt, err := splitFW4(h, fw4HeaderPrefix)
	if err != nil {
		return fw4Tag{}, err
	}
	t := newFW4Tag()
	var ok [7]bool
	var link, path int32
	t.clusterID, ok[0] = parseDec32(f[0])
	t.serverID, ok[1] = parseDec32(f[1])
	t.agentID, ok[2] = parseDec32(f[2])
	t.tagID, ok[3] = parseDec32(f[3])
	link, ok[4] = parseDec32(f[4])
	t.encLinkID = uint32(link)
	t.tenantID, ok[5] = parseDec32(f[5])
	path, ok[6] = parseDec32(f[6])
	t.pathInfo = uint32(path)
	if ok != [7]bool{true, true, true, true, true, true, true} {
		return fw4Tag{}, errFW4Field
	}
	if hasExt {
		if err := t.parseExtensions(ext); err != nil {
			return fw4Tag{}, err
		}
	}
	return t, nil
}

// splitFW4 checks the prefix and returns the seven core fields and the
// extension block (everything after the seventh field's ';').
func splitFW4(s, prefix string) (f [7]string, ext string, hasExt bool, err error) {
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return f, "", false, errFW4Prefix
	}
	rest := s[len(prefix):]
	n, start := 0, 0
	for i := 0; i < len(rest); i++ {
		if rest[i] != ';' {
			continue
		}
		f[n] = rest[start:i]
		n++
		start = i + 1
		if n == len(f) {
			return f, rest[start:], true, nil
		}
	}
	if n < len(f)-1 {
		return f, "", false, errFW4Fields
	}
	f[n] = rest[start:]
	return f, "", false, nil
}

// parseExtensions parses "<checksum>[;<id>h<hex>]…". The checksum is the low
// 16 bits of MurmurHash2-64A over everything after it, leading ';' included;
// a mismatch fails the whole tag. Tokens without 'h' and unknown ids are
// skipped, as Dynatrace does.
func (t *fw4Tag) parseExtensions(ext string) error {
	const n = 4
	if len(ext) < n || len(ext) > n && ext[n] != ';' {
		return errFW4Checksum
	}
	want, ok := parseHex32(ext[:n])
	if !ok {
		return errFW4Checksum
	}
	if uint32(uint16(murmur64A(ext[n:], fw4ChecksumSeed))) != want {
		return errFW4Mismatch
	}
	if len(ext) == n {
		return nil
	}
	rest := ext[n+1:]
	count, start := 0, 0
	for i := 0; i <= len(rest); i++ {
		if i < len(rest) && rest[i] != ';' {
			continue
		}
		if count++; count > fw4MaxExtensions {
			return errFW4Extensions
		}
		if err := t.parseExtension(rest[start:i]); err != nil {
			return err
		}
		start = i + 1
	}
	return nil
}

func (t *fw4Tag) parseExtension(tok string) error {
	h := 0
	for h < len(tok) && tok[h] != 'h' {
		h++
	}
	if h == 0 || h == len(tok) {
		return nil // no id, or not an "h" (hex) token: skipped
	}
	id, ok := parseDecU32(tok[:h])
	if !ok {
		return errFW4Extension
	}
	v := tok[h+1:]
	switch id {
	case fw4ExtCustomBlob:
		if len(v)%2 != 0 || len(v) > 2*fw4MaxBlobLen || !isHex(v) {
			return errFW4Extension
		}
		t.blob = v
	case fw4ExtTagDepth:
		t.tagDepth, ok = parseHexInt(v)
	case fw4ExtEntryAgentID:
		t.entryAgentID, ok = parseHexInt(v)
	case fw4ExtEntryTagID:
		t.entryTagID, ok = parseHexInt(v)
	case fw4ExtPayloadBitset:
		t.payloadBitset, ok = parseHexInt(v)
	case fw4ExtTraceID:
		var err error
		t.traceID, err = trace.TraceIDFromHex(v)
		ok = err == nil
	case fw4ExtSpanID:
		var err error
		t.spanID, err = trace.SpanIDFromHex(v)
		ok = err == nil
	}
	if !ok {
		return errFW4Extension
	}
	return nil
}

// appendValue appends t in tracestate form. The trace id is not written:
// the traceparent carries it.
func (t *fw4Tag) appendValue(dst []byte) []byte { return t.appendValueWith(dst, false) }

// appendValueWith appends t in tracestate form, with the trace id extension
// if withTraceID (as Dynatrace's codec can; its propagator never does).
func (t *fw4Tag) appendValueWith(dst []byte, withTraceID bool) []byte {
	dst = append(dst, fw4ValuePrefix...)
	dst = strconv.AppendUint(dst, uint64(uint32(t.serverID)), 16)
	dst = append(dst, ';')
	dst = strconv.AppendUint(dst, uint64(uint32(t.agentID)), 16)
	dst = append(dst, ';')
	dst = strconv.AppendUint(dst, uint64(uint32(t.tagID)), 16)
	dst = append(dst, ';')
	dst = strconv.AppendUint(dst, uint64(t.linkID()), 16)
	dst = append(dst, ';', '0'+byte(b2u(t.ignored())), ';')
	dst = strconv.AppendUint(dst, uint64(t.exponent()), 16)
	dst = append(dst, ';')
	dst = strconv.AppendUint(dst, uint64(t.pathInfo), 16)
	return t.appendExtensions(dst, withTraceID)
}

// appendHeader appends t in x-dynatrace form, trace id included.
func (t *fw4Tag) appendHeader(dst []byte) []byte {
	dst = append(dst, fw4HeaderPrefix...)
	for _, v := range [...]int32{t.clusterID, t.serverID, t.agentID, t.tagID, int32(t.encLinkID), t.tenantID} {
		dst = strconv.AppendInt(dst, int64(v), 10)
		dst = append(dst, ';')
	}
	dst = strconv.AppendInt(dst, int64(int32(t.pathInfo)), 10)
	return t.appendExtensions(dst, true)
}

// appendExtensions appends the extension block, if any, with its checksum.
func (t *fw4Tag) appendExtensions(dst []byte, withTraceID bool) []byte {
	start := len(dst)
	dst = append(dst, ";0000"...)
	body := len(dst)
	if t.blob != "" {
		dst = append(dst, ";1h"...)
		for i := 0; i < len(t.blob); i++ {
			c := t.blob[i]
			if 'A' <= c && c <= 'F' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
	}
	if t.tagDepth > 0 {
		dst = appendHexExt(dst, fw4ExtTagDepth, t.tagDepth)
	}
	if t.entryAgentID != -1 {
		dst = appendHexExt(dst, fw4ExtEntryAgentID, t.entryAgentID)
	}
	if t.entryTagID >= 0 {
		dst = appendHexExt(dst, fw4ExtEntryTagID, t.entryTagID)
	}
	if t.payloadBitset != 0 {
		dst = appendHexExt(dst, fw4ExtPayloadBitset, t.payloadBitset)
	}
	if withTraceID && t.traceID.IsValid() {
		dst = append(dst, ";6h"...)
		dst = hex.AppendEncode(dst, t.traceID[:])
	}
	if t.spanID.IsValid() {
		dst = append(dst, ";7h"...)
		dst = hex.AppendEncode(dst, t.spanID[:])
	}
	if len(dst) == body {
		return dst[:start]
	}
	sum := uint16(murmur64A(dst[body:], fw4ChecksumSeed))
	const digits = "0123456789abcdef"
	dst[start+1] = digits[sum>>12]
	dst[start+2] = digits[sum>>8&0xf]
	dst[start+3] = digits[sum>>4&0xf]
	dst[start+4] = digits[sum&0xf]
	return dst
}

// appendHexExt appends ";<id>h<v>" with v in hex, zero-padded to an even
// number of digits.
func appendHexExt(dst []byte, id byte, v int32) []byte {
	dst = append(dst, ';', '0'+id, 'h')
	u := uint32(v)
	if (bits.Len32(u)+3)/4%2 == 1 || u == 0 {
		dst = append(dst, '0')
	}
	return strconv.AppendUint(dst, uint64(u), 16)
}

// parseHex32 parses 1 to 8 hex digits of either case.
func parseHex32(s string) (uint32, bool) {
	if len(s) == 0 || len(s) > 8 {
		return 0, false
	}
	var v uint32
	for i := 0; i < len(s); i++ {
		d := unhex(s[i])
		if d > 0xf {
			return 0, false
		}
		v = v<<4 | uint32(d)
	}
	return v, true
}

// parseHexInt parses an integer extension value: an even number of hex
// digits, at most 8.
func parseHexInt(s string) (int32, bool) {
	if len(s)%2 != 0 {
		return 0, false
	}
	v, ok := parseHex32(s)
	return int32(v), ok
}

// parseExponent parses the sampling exponent: one hex digit as Dynatrace's
// agents write it, or 10 to 15 in decimal as Envoy's sampler writes it (the
// same two digits read as hex would be out of range).
func parseExponent(s string) (uint32, bool) {
	switch {
	case len(s) == 1 || len(s) == 2 && s[0] == '0':
		d := unhex(s[len(s)-1])
		return uint32(d), d <= 0xf
	case len(s) == 2 && s[0] == '1' && '0' <= s[1] && s[1] <= '5':
		return uint32(10 + s[1] - '0'), true
	}
	return 0, false
}

// parseDec32 parses a signed decimal int32 with an optional sign.
func parseDec32(s string) (int32, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) > 10 {
		return 0, false
	}
	v, ok := parseDigits(s)
	if !ok {
		return 0, false
	}
	if neg {
		if v > 1<<31 {
			return 0, false
		}
		return int32(-int64(v)), true
	}
	if v > math.MaxInt32 {
		return 0, false
	}
	return int32(v), true
}

// parseDecU32 parses an unsigned decimal uint32.
func parseDecU32(s string) (uint32, bool) {
	if len(s) > 10 {
		return 0, false
	}
	v, ok := parseDigits(s)
	if !ok || v > math.MaxUint32 {
		return 0, false
	}
	return uint32(v), true
}

// parseDigits parses 1 to 19 decimal digits.
func parseDigits(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 19 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if unhex(s[i]) > 0xf {
			return false
		}
	}
	return true
}

// unhex returns the value of a hex digit of either case, or 0xff.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0xff
}
