package export

import (
	"bytes"

	"github.com/klauspost/compress/gzip"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// maxCached bounds the resources and scopes whose bytes an encoder keeps.
const maxCached = 64

// resEntry is a resource's encoded fields.
type resEntry struct {
	ptrs   []*resource.Resource // the resources seen with these contents
	set    *attribute.Set       // compared with Equals: Distinct alone is only a hash
	schema string
	field  []byte // ResourceSpans.resource
	url    []byte // ResourceSpans.schema_url, nil when empty
}

// scopeEntry is an instrumentation scope's encoded fields.
type scopeEntry struct {
	scope instrumentation.Scope
	field []byte // ScopeSpans.scope
	url   []byte // ScopeSpans.schema_url, nil when empty
}

// group is one (resource, scope) pair of a batch.
type group struct {
	res, scope int // cache indexes
	resRank    int // first appearance of the resource in the batch
	n          int // spans
}

// chunk is a range of the encoder's order sent as one request.
type chunk struct{ lo, hi int }

// encoder turns a batch of spans into request bodies of at most maxBytes.
// Spans are encoded once, grouped by resource and scope, into one buffer;
// bodies are assembled from that buffer and the cached resource and scope
// bytes. One export uses an encoder at a time; encoders are reused, so in
// the steady state encoding allocates nothing.
type encoder struct {
	maxBytes int
	level    int
	avgSpan  int // bytes of a span record, as last seen by appendRequest

	resources []resEntry
	scopes    []scopeEntry

	// per batch
	groups    []group
	spanG     []int32                 // group of each input span, -1 for nil
	order     []sdktrace.ReadOnlySpan // kept spans, grouped
	orderG    []int32                 // group of order[i]
	ends      []int                   // end of order[i]'s record in recs
	recs      []byte                  // ScopeSpans.spans fields, in order
	chunkList []chunk
	perm      []int
	next      []int

	tooLarge     []sdktrace.ReadOnlySpan
	tooLargeSize int

	scratch spanFields // view's, for spans not read in place

	raw []byte
	gz  bytes.Buffer
	zw  *gzip.Writer
}

func newEncoder(cfg Config) *encoder {
	return &encoder{maxBytes: cfg.MaxRequestBytes, level: cfg.CompressionLevel}
}

func (enc *encoder) resourceIndex(r *resource.Resource) int {
	for i := range enc.resources {
		for _, p := range enc.resources[i].ptrs {
			if p == r {
				return i
			}
		}
	}
	set, schema := r.Set(), r.SchemaURL()
	for i := range enc.resources {
		if e := &enc.resources[i]; e.schema == schema && e.set.Equals(set) {
			if len(e.ptrs) < maxCached {
				e.ptrs = append(e.ptrs, r)
			}
			return i
		}
	}
	enc.resources = append(enc.resources, resEntry{
		ptrs: []*resource.Resource{r}, set: set, schema: schema,
		field: resourceField(r),
		url:   schemaField(tagRSSchemaURL, schema),
	})
	return len(enc.resources) - 1
}

func (enc *encoder) scopeIndex(sc instrumentation.Scope) int {
	for i := range enc.scopes {
		if enc.scopes[i].scope == sc {
			return i
		}
	}
	enc.scopes = append(enc.scopes, scopeEntry{
		scope: sc,
		field: scopeField(sc),
		url:   schemaField(tagSSSchemaURL, sc.SchemaURL),
	})
	return len(enc.scopes) - 1
}

// encode encodes spans, grouped by resource (in order of first appearance)
// and then by scope, and sets aside the spans too large to be sent alone.
func (enc *encoder) encode(spans []sdktrace.ReadOnlySpan) {
	kept := enc.group(spans)

	// Encode in that order, dropping spans that cannot fit alone.
	enc.recs = enc.recs[:0]
	enc.ends = enc.ends[:0]
	k := 0
	for i := range kept {
		s, gi := enc.order[i], enc.orderG[i]
		start := len(enc.recs)
		enc.recs = appendSpan(enc.recs, view(s, &enc.scratch))
		if size := enc.requestSize(gi, len(enc.recs)-start); size > enc.maxBytes {
			enc.recs = enc.recs[:start]
			enc.tooLarge = append(enc.tooLarge, s)
			if enc.tooLargeSize == 0 {
				enc.tooLargeSize = size
			}
			continue
		}
		enc.order[k], enc.orderG[k] = s, gi
		enc.ends = append(enc.ends, len(enc.recs))
		k++
	}
	clear(enc.order[k:])
	enc.order, enc.orderG = enc.order[:k], enc.orderG[:k]
}

// group puts the spans but nil ones into enc.order, grouped by resource (in
// order of first appearance) and then by scope, with their group in
// enc.orderG, and returns their number.
func (enc *encoder) group(spans []sdktrace.ReadOnlySpan) int {
	if len(enc.resources) > maxCached {
		enc.resources = enc.resources[:0]
	}
	if len(enc.scopes) > maxCached {
		enc.scopes = enc.scopes[:0]
	}
	enc.groups = enc.groups[:0]
	enc.spanG = enc.spanG[:0]
	enc.tooLarge = enc.tooLarge[:0]
	enc.tooLargeSize = 0

	// Group each span; consecutive spans usually share their group.
	var (
		lastRes   *resource.Resource
		lastScope instrumentation.Scope
		lastG     = -1
		resRanks  = 0
	)
	for _, s := range spans {
		if s == nil {
			enc.spanG = append(enc.spanG, -1)
			continue
		}
		v := view(s, &enc.scratch)
		r, sc := v.res, &v.instrumentationScope
		if lastG < 0 || r != lastRes || *sc != lastScope {
			ri, si := enc.resourceIndex(r), enc.scopeIndex(*sc)
			lastG = -1
			rank := -1
			for gi := range enc.groups {
				g := &enc.groups[gi]
				if g.res == ri {
					rank = g.resRank
					if g.scope == si {
						lastG = gi
						break
					}
				}
			}
			if lastG < 0 {
				if rank < 0 {
					rank = resRanks
					resRanks++
				}
				enc.groups = append(enc.groups, group{res: ri, scope: si, resRank: rank})
				lastG = len(enc.groups) - 1
			}
			lastRes, lastScope = r, *sc
		}
		enc.groups[lastG].n++
		enc.spanG = append(enc.spanG, int32(lastG))
	}

	// Order the groups by resource, keeping first appearance otherwise,
	// then place the spans (a counting sort).
	perm := grow(enc.perm, len(enc.groups))
	enc.perm = perm
	for i := range perm {
		perm[i] = i
	}
	for i := 1; i < len(perm); i++ {
		for j := i; j > 0 && enc.groups[perm[j]].resRank < enc.groups[perm[j-1]].resRank; j-- {
			perm[j], perm[j-1] = perm[j-1], perm[j]
		}
	}
	n := len(spans)
	enc.order = grow(enc.order, n)
	enc.orderG = grow(enc.orderG, n)
	next := grow(enc.next, len(enc.groups))
	enc.next = next
	at := 0
	for _, gi := range perm {
		next[gi] = at
		at += enc.groups[gi].n
	}
	kept := at
	enc.order, enc.orderG = enc.order[:kept], enc.orderG[:kept]
	for i, s := range spans {
		gi := enc.spanG[i]
		if gi < 0 {
			continue
		}
		enc.order[next[gi]] = s
		enc.orderG[next[gi]] = gi
		next[gi]++
	}
	return kept
}

// appendRequest appends the whole request for spans to b, without a size
// limit: AppendRequest's path.
func (enc *encoder) appendRequest(b []byte, spans []sdktrace.ReadOnlySpan) []byte {
	if out, ok := enc.appendInOrder(b, spans); ok {
		return out
	}
	return enc.appendGrouped(b, spans)
}

// appendInOrder is appendRequest in one pass over spans whose groups are
// already contiguous, as they usually are: all spans of one resource and
// scope. It reports false, with nothing appended, when a resource or a
// group comes back after another.
func (enc *encoder) appendInOrder(b []byte, spans []sdktrace.ReadOnlySpan) ([]byte, bool) {
	if len(enc.resources) > maxCached {
		enc.resources = enc.resources[:0]
	}
	if len(enc.scopes) > maxCached {
		enc.scopes = enc.scopes[:0]
	}
	enc.groups = enc.groups[:0] // the groups seen, in order
	var (
		start           = len(b)
		avg             = max(enc.avgSpan, 64)
		lastRes         *resource.Resource
		lastScope       instrumentation.Scope
		res, scope      = -1, -1 // of the open runs
		rsAt, rsW       int
		ssAt, ssW, recs int
		total, n        int // record bytes and spans written
	)
	closeScope := func() {
		total += len(b) - recs
		b = append(b, enc.scopes[scope].url...)
		b = fixLen(b, ssAt, ssW)
	}
	closeResource := func() {
		b = append(b, enc.resources[res].url...)
		b = fixLen(b, rsAt, rsW)
	}
	for i, s := range spans {
		if s == nil {
			continue
		}
		v := view(s, &enc.scratch)
		r, sc := v.res, &v.instrumentationScope
		if res < 0 || r != lastRes || *sc != lastScope {
			ri, si := enc.resourceIndex(r), enc.scopeIndex(*sc)
			lastRes, lastScope = r, *sc
			if ri != res || si != scope {
				for _, g := range enc.groups {
					if g.res == ri && (g.scope == si || ri != res) {
						return b[:start], false // back to an earlier group or resource
					}
				}
				enc.groups = append(enc.groups, group{res: ri, scope: si})
				if scope >= 0 {
					closeScope()
				}
				if ri != res {
					if res >= 0 {
						closeResource()
					}
					res = ri
					rf := &enc.resources[res]
					b = append(b, tagRequestResourceSpans)
					b, rsAt, rsW = reserveLen(b, len(rf.field)+len(rf.url)+(len(spans)-i)*(avg+3)+64)
					b = append(b, rf.field...)
				}
				scope = si
				sf := &enc.scopes[scope]
				b = append(b, tagRSScopeSpans)
				b, ssAt, ssW = reserveLen(b, len(sf.field)+len(sf.url)+(len(spans)-i)*(avg+3))
				b = append(b, sf.field...)
				recs = len(b)
			}
		}
		b = appendSpan(b, v)
		n++
	}
	if res >= 0 {
		closeScope()
		closeResource()
		enc.avgSpan = total / n
	}
	return b, true
}

// appendGrouped is appendRequest for spans in any order: they are grouped
// first.
//
// Both paths write the span records straight into b: each length prefix is
// written at the width its estimate needs and fixed afterwards (moving the
// content only when the estimate was off by a varint byte), so that no
// record is copied.
func (enc *encoder) appendGrouped(b []byte, spans []sdktrace.ReadOnlySpan) []byte {
	kept := enc.group(spans)
	avg := max(enc.avgSpan, 64)
	for i := 0; i < kept; {
		res := enc.groups[enc.orderG[i]].res
		r := &enc.resources[res]
		n := 0 // spans of this resource
		for j := i; j < kept && enc.groups[enc.orderG[j]].res == res; j++ {
			n++
		}
		var rsAt, rsW int
		b = append(b, tagRequestResourceSpans)
		b, rsAt, rsW = reserveLen(b, len(r.field)+len(r.url)+n*(avg+3)+64)
		b = append(b, r.field...)
		for i < kept && enc.groups[enc.orderG[i]].res == res {
			gi := enc.orderG[i]
			sc := &enc.scopes[enc.groups[gi].scope]
			k := i
			for k < kept && enc.orderG[k] == gi {
				k++
			}
			var ssAt, ssW int
			b = append(b, tagRSScopeSpans)
			b, ssAt, ssW = reserveLen(b, len(sc.field)+len(sc.url)+(k-i)*(avg+3))
			b = append(b, sc.field...)
			recs := len(b)
			for _, s := range enc.order[i:k] {
				b = appendSpan(b, view(s, &enc.scratch))
			}
			enc.avgSpan = (len(b) - recs) / (k - i)
			b = append(b, sc.url...)
			b = fixLen(b, ssAt, ssW)
			i = k
		}
		b = append(b, r.url...)
		b = fixLen(b, rsAt, rsW)
	}
	clear(enc.order[:kept])
	return b
}

// reserveLen appends a length prefix of the width a field of about estimate
// bytes needs, for fixLen to fill in, and returns where it starts and its
// width.
func reserveLen(b []byte, estimate int) ([]byte, int, int) {
	at, w := len(b), sizeVarint(uint64(estimate))
	for range w {
		b = append(b, 0)
	}
	return b, at, w
}

// fixLen writes the length prefix of w bytes at at, of the field that runs
// from after it to the end of b. When the length needs another width, the
// field moves by the difference.
func fixLen(b []byte, at, w int) []byte {
	start := at + w
	n := len(b) - start
	if need := sizeVarint(uint64(n)); need != w {
		if need > w {
			b = append(b, make([]byte, need-w)...)
		}
		copy(b[at+need:], b[start:start+n])
		b = b[:at+need+n]
	}
	putVarint(b, at, uint64(n))
	return b
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// requestSize is the size of a request holding spans of one group whose
// records take recBytes.
func (enc *encoder) requestSize(gi int32, recBytes int) int {
	g := &enc.groups[gi]
	r, sc := &enc.resources[g.res], &enc.scopes[g.scope]
	ss := len(sc.field) + recBytes + len(sc.url)
	rs := len(r.field) + sizeField(ss) + len(r.url)
	return sizeField(rs)
}

func (enc *encoder) start(i int) int {
	if i == 0 {
		return 0
	}
	return enc.ends[i-1]
}

// chunks splits the encoded spans into requests of at most maxBytes,
// greedily, in one pass.
func (enc *encoder) chunks() []chunk {
	enc.chunkList = enc.chunkList[:0]
	n := len(enc.order)
	for lo := 0; lo < n; {
		var (
			done    int // completed ResourceSpans fields
			res     = -1
			rsInner int // the open ResourceSpans without its open ScopeSpans
			g       = int32(-1)
			ssInner int // the open ScopeSpans
		)
		hi := lo
		for ; hi < n; hi++ {
			gi := enc.orderG[hi]
			tDone, tRes, tRS, tSS := done, res, rsInner, ssInner
			if gi != g {
				if g >= 0 {
					tRS += sizeField(tSS)
				}
				grp := &enc.groups[gi]
				if grp.res != tRes {
					if tRes >= 0 {
						tDone += sizeField(tRS)
					}
					tRes = grp.res
					tRS = len(enc.resources[tRes].field) + len(enc.resources[tRes].url)
				}
				sc := &enc.scopes[grp.scope]
				tSS = len(sc.field) + len(sc.url)
			}
			tSS += enc.ends[hi] - enc.start(hi)
			if hi > lo && tDone+sizeField(tRS+sizeField(tSS)) > enc.maxBytes {
				break // a span alone always fits: encode checked
			}
			done, res, rsInner, g, ssInner = tDone, tRes, tRS, gi, tSS
		}
		enc.chunkList = append(enc.chunkList, chunk{lo, hi})
		lo = hi
	}
	return enc.chunkList
}

// runEnd returns the end of the run of spans of order[i]'s group, at most hi.
func (enc *encoder) runEnd(i, hi int) int {
	gi := enc.orderG[i]
	j := i + 1
	for j < hi && enc.orderG[j] == gi {
		j++
	}
	return j
}

// body assembles the request body for spans lo..hi into a reused buffer.
func (enc *encoder) body(lo, hi int) []byte {
	enc.raw = enc.appendBody(enc.raw[:0], lo, hi)
	return enc.raw
}

// appendBody appends the request body for spans lo..hi to b.
func (enc *encoder) appendBody(b []byte, lo, hi int) []byte {
	for i := lo; i < hi; {
		res := enc.groups[enc.orderG[i]].res
		r := &enc.resources[res]
		// Size the ResourceSpans first: its scope runs.
		rs := len(r.field) + len(r.url)
		for j := i; j < hi && enc.groups[enc.orderG[j]].res == res; {
			k := enc.runEnd(j, hi)
			sc := &enc.scopes[enc.groups[enc.orderG[j]].scope]
			rs += sizeField(len(sc.field) + enc.start(k) - enc.start(j) + len(sc.url))
			j = k
		}
		b = append(b, tagRequestResourceSpans)
		b = appendVarint(b, uint64(rs))
		b = append(b, r.field...)
		for i < hi && enc.groups[enc.orderG[i]].res == res {
			k := enc.runEnd(i, hi)
			sc := &enc.scopes[enc.groups[enc.orderG[i]].scope]
			recs := enc.recs[enc.start(i):enc.start(k)]
			b = append(b, tagRSScopeSpans)
			b = appendVarint(b, uint64(len(sc.field)+len(recs)+len(sc.url)))
			b = append(b, sc.field...)
			b = append(b, recs...)
			b = append(b, sc.url...)
			i = k
		}
		b = append(b, r.url...)
	}
	return b
}

func (enc *encoder) spans(lo, hi int) []sdktrace.ReadOnlySpan { return enc.order[lo:hi] }

// compress gzips raw into a reused buffer.
func (enc *encoder) compress(raw []byte) []byte {
	enc.gz.Reset()
	if enc.zw == nil {
		enc.zw, _ = gzip.NewWriterLevel(&enc.gz, enc.level) // the level was validated
	} else {
		enc.zw.Reset(&enc.gz)
	}
	_, _ = enc.zw.Write(raw) // writes to a bytes.Buffer do not fail
	_ = enc.zw.Close()
	return enc.gz.Bytes()
}

// detach leaves the request body buffers to a request still reading them:
// the encoder makes new ones.
func (enc *encoder) detach() {
	enc.raw = nil
	enc.gz = bytes.Buffer{}
}

// release drops the references to the last batch's spans, and buffers that
// grew far beyond a typical batch.
func (enc *encoder) release() {
	enc.scratch = spanFields{}
	clear(enc.order)
	clear(enc.tooLarge)
	enc.order, enc.tooLarge = enc.order[:0], enc.tooLarge[:0]
	const keep = 1 << 20
	if cap(enc.recs) > keep {
		enc.recs = nil
	}
	if cap(enc.raw) > keep {
		enc.raw = nil
	}
	if enc.gz.Cap() > keep {
		enc.gz = bytes.Buffer{}
	}
}
