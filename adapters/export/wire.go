package export

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// This file writes OTLP protobuf (opentelemetry/proto v1.x) by hand. Fields
// are written in field-number order and zero scalars are left out, so the
// bytes equal proto.Marshal of the same message built with the official
// types. Field numbers: the trace, common and resource .proto files.

// Wire types.
const (
	wtVarint  = 0
	wtFixed64 = 1
	wtBytes   = 2
	wtFixed32 = 5
)

// Tags: field number << 3 | wire type.
const (
	// ExportTraceServiceRequest
	tagRequestResourceSpans = 1<<3 | wtBytes
	// ResourceSpans
	tagRSResource   = 1<<3 | wtBytes
	tagRSScopeSpans = 2<<3 | wtBytes
	tagRSSchemaURL  = 3<<3 | wtBytes
	// ScopeSpans
	tagSSScope     = 1<<3 | wtBytes
	tagSSSpans     = 2<<3 | wtBytes
	tagSSSchemaURL = 3<<3 | wtBytes
	// Span
	tagSpanTraceID      = 1<<3 | wtBytes
	tagSpanSpanID       = 2<<3 | wtBytes
	tagSpanTraceState   = 3<<3 | wtBytes
	tagSpanParentSpanID = 4<<3 | wtBytes
	tagSpanName         = 5<<3 | wtBytes
	tagSpanKind         = 6<<3 | wtVarint
	tagSpanStart        = 7<<3 | wtFixed64
	tagSpanEnd          = 8<<3 | wtFixed64
	tagSpanAttributes   = 9<<3 | wtBytes
	tagSpanDroppedAttrs = 10<<3 | wtVarint
	tagSpanEvents       = 11<<3 | wtBytes
	tagSpanDroppedEvts  = 12<<3 | wtVarint
	tagSpanLinks        = 13<<3 | wtBytes
	tagSpanDroppedLinks = 14<<3 | wtVarint
	tagSpanStatus       = 15<<3 | wtBytes
	tagSpanFlags        = 16<<3 | wtFixed32 // two bytes as a varint
	// Span.Event
	tagEventTime         = 1<<3 | wtFixed64
	tagEventName         = 2<<3 | wtBytes
	tagEventAttributes   = 3<<3 | wtBytes
	tagEventDroppedAttrs = 4<<3 | wtVarint
	// Span.Link
	tagLinkTraceID      = 1<<3 | wtBytes
	tagLinkSpanID       = 2<<3 | wtBytes
	tagLinkTraceState   = 3<<3 | wtBytes
	tagLinkAttributes   = 4<<3 | wtBytes
	tagLinkDroppedAttrs = 5<<3 | wtVarint
	tagLinkFlags        = 6<<3 | wtFixed32
	// Status
	tagStatusMessage = 2<<3 | wtBytes
	tagStatusCode    = 3<<3 | wtVarint
	// Resource
	tagResourceAttributes = 1<<3 | wtBytes
	// InstrumentationScope
	tagScopeName       = 1<<3 | wtBytes
	tagScopeVersion    = 2<<3 | wtBytes
	tagScopeAttributes = 3<<3 | wtBytes
	// KeyValue
	tagKVKey   = 1<<3 | wtBytes
	tagKVValue = 2<<3 | wtBytes
	// AnyValue
	tagAnyString = 1<<3 | wtBytes
	tagAnyBool   = 2<<3 | wtVarint
	tagAnyInt    = 3<<3 | wtVarint
	tagAnyDouble = 4<<3 | wtFixed64
	tagAnyArray  = 5<<3 | wtBytes
	tagAnyKVList = 6<<3 | wtBytes
	tagAnyBytes  = 7<<3 | wtBytes
	// ArrayValue, KeyValueList
	tagListValues = 1<<3 | wtBytes
)

// OTLP span flags above the W3C trace flags.
const (
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// OTLP status codes.
const (
	statusOK    = 1
	statusError = 2
)

// sizeVarint is protowire.SizeVarint for the lengths that occur here. Most
// are under 128: a predictable branch is cheaper than counting bits.
func sizeVarint(v uint64) int {
	if v < 1<<7 {
		return 1
	}
	// protowire.SizeVarint's formula: 1 + (bits-1)/7.
	return int(9*uint32(bits.Len64(v))+64) / 64
}

// sizeField is the size of a length-delimited field of n bytes with a
// one-byte tag.
func sizeField(n int) int { return 1 + sizeVarint(uint64(n)) + n }

func appendVarint(b []byte, v uint64) []byte {
	if v < 1<<7 {
		return append(b, byte(v))
	}
	return appendVarintSlow(b, v)
}

func appendVarintSlow(b []byte, v uint64) []byte {
	if v < 1<<14 {
		return append(b, byte(v)|0x80, byte(v>>7))
	}
	return protowire.AppendVarint(b, v)
}

// putVarint writes v at b[i:] and returns the index after it; b must have
// room.
func putVarint(b []byte, i int, v uint64) int {
	for v >= 1<<7 {
		b[i] = byte(v) | 0x80
		v >>= 7
		i++
	}
	b[i] = byte(v)
	return i + 1
}

func appendString(b []byte, tag byte, s string) []byte {
	b = append(b, tag)
	b = appendVarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFixed64(b []byte, tag byte, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(append(b, tag), v)
}

// openField starts a length-delimited field of unknown size and returns the
// offset of its content. A one-byte length is reserved; closeField fixes it.
func openField(b []byte, tag byte) ([]byte, int) {
	b = append(b, tag, 0)
	return b, len(b)
}

// closeField writes the length of the field opened at start, moving the content
// when the length needs more than one byte.
func closeField(b []byte, start int) []byte {
	n := len(b) - start
	if n < 1<<7 {
		b[start-1] = byte(n)
		return b
	}
	extra := sizeVarint(uint64(n)) - 1
	for range extra {
		b = append(b, 0)
	}
	copy(b[start+extra:], b[start:start+n])
	protowire.AppendVarint(b[:start-1], uint64(n))
	return b
}

// openField2 is openField with two bytes reserved, for fields that are usually
// 128 to 16383 bytes long (spans).
func openField2(b []byte, tag byte) ([]byte, int) {
	b = append(b, tag, 0, 0)
	return b, len(b)
}

func closeField2(b []byte, start int) []byte {
	n := len(b) - start
	if n >= 1<<7 && n < 1<<14 {
		b[start-2] = byte(n) | 0x80
		b[start-1] = byte(n >> 7)
		return b
	}
	if n < 1<<7 {
		b[start-2] = byte(n)
		copy(b[start-1:], b[start:])
		return b[:len(b)-1]
	}
	extra := sizeVarint(uint64(n)) - 2
	for range extra {
		b = append(b, 0)
	}
	copy(b[start+extra:], b[start:start+n])
	protowire.AppendVarint(b[:start-2], uint64(n))
	return b
}

func unixNano(t time.Time) uint64 { return uint64(max(0, t.UnixNano())) }

func clampCount(n int) uint64 {
	if n < 0 {
		return 0
	}
	return uint64(min(int64(n), math.MaxUint32))
}

// appendSpan writes one ScopeSpans.spans field.
func appendSpan(b []byte, s spanView) []byte {
	b, start := openField2(b, tagSSSpans)
	sc := &s.spanContext
	parent := &s.parent
	// The head, in one go: ids, trace state, parent, name, kind, times.
	ts := sc.TraceState()
	tsLen := traceStateLen(ts)
	tid, sid, psid := sc.TraceID(), sc.SpanID(), parent.SpanID()
	name := s.name
	kind := s.spanKind
	st, et := unixNano(s.startTime), unixNano(s.endTime)
	i := len(b)
	b = slices.Grow(b, 28+sizeField(tsLen)+10+sizeField(len(name))+2+9+9)
	b = b[:cap(b)]
	b[i], b[i+1] = tagSpanTraceID, 16
	copy(b[i+2:], tid[:])
	b[i+18], b[i+19] = tagSpanSpanID, 8
	copy(b[i+20:], sid[:])
	i += 28
	if tsLen > 0 {
		b = appendTraceState(b[:i], tagSpanTraceState, ts, tsLen)
		i = len(b)
		b = b[:cap(b)]
	}
	if psid.IsValid() {
		b[i], b[i+1] = tagSpanParentSpanID, 8
		copy(b[i+2:], psid[:])
		i += 10
	}
	if name != "" {
		b[i] = tagSpanName
		i = putVarint(b, i+1, uint64(len(name)))
		i += copy(b[i:], name)
	}
	if kind >= trace.SpanKindInternal && kind <= trace.SpanKindConsumer {
		b[i], b[i+1] = tagSpanKind, byte(kind) // the SDK's kinds have OTLP's numbers
		i += 2
	}
	if st != 0 {
		b[i] = tagSpanStart
		binary.LittleEndian.PutUint64(b[i+1:], st)
		i += 9
	}
	if et != 0 {
		b[i] = tagSpanEnd
		binary.LittleEndian.PutUint64(b[i+1:], et)
		i += 9
	}
	b = b[:i]
	for _, kv := range s.extra {
		if !hasKey(s.attributes, kv.Key) {
			b = appendKeyValue(b, tagSpanAttributes, kv)
		}
	}
	for _, kv := range s.attributes {
		b = appendKeyValue(b, tagSpanAttributes, kv)
	}
	if n := clampCount(s.droppedAttributeCount); n != 0 {
		b = appendVarint(append(b, tagSpanDroppedAttrs), n)
	}
	evs := s.events
	for i := range evs {
		b = appendEvent(b, &evs[i])
	}
	if n := clampCount(s.droppedEventCount); n != 0 {
		b = appendVarint(append(b, tagSpanDroppedEvts), n)
	}
	links := s.links
	for i := range links {
		b = appendLink(b, &links[i])
	}
	if n := clampCount(s.droppedLinkCount); n != 0 {
		b = appendVarint(append(b, tagSpanDroppedLinks), n)
	}
	b = appendStatus(b, s.status)
	b = appendFlags(b, tagSpanFlags, sc.TraceFlags(), parent.IsRemote())
	return closeField2(b, start)
}

// hasKey reports whether attrs holds k.
func hasKey(attrs []attribute.KeyValue, k attribute.Key) bool {
	for i := range attrs {
		if attrs[i].Key == k {
			return true
		}
	}
	return false
}

// appendFlags writes the OTLP flags word: W3C trace flags in bits 0-7, then
// "is remote known" and "is remote".
func appendFlags(b []byte, tag byte, tf trace.TraceFlags, remote bool) []byte {
	f := uint32(tf) | flagHasIsRemote
	if remote {
		f |= flagIsRemote
	}
	if tag == tagSpanFlags {
		b = append(b, 0x85, 0x01) // field 16 needs a two-byte tag
	} else {
		b = append(b, tag)
	}
	return binary.LittleEndian.AppendUint32(b, f)
}

// traceStateLen is the length of ts as written by appendTraceState.
func traceStateLen(ts trace.TraceState) int {
	if ts.Len() == 0 {
		return 0
	}
	n := -1 // no comma before the first member
	ts.Walk(func(k, v string) bool {
		n += len(k) + len(v) + 2
		return true
	})
	return n
}

// appendTraceState writes ts ("k=v,k2=v2", as TraceState.String) as a
// string field of n bytes; n is traceStateLen(ts), and nothing is written
// when it is 0.
func appendTraceState(b []byte, tag byte, ts trace.TraceState, n int) []byte {
	if n == 0 {
		return b
	}
	b = append(b, tag)
	b = appendVarint(b, uint64(n))
	first := true
	ts.Walk(func(k, v string) bool {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, v...)
		return true
	})
	return b
}

func appendStatus(b []byte, st sdktrace.Status) []byte {
	var code uint64
	switch st.Code {
	case codes.Ok:
		code = statusOK
	case codes.Error:
		code = statusError
	}
	n := 0
	if st.Description != "" {
		n += sizeField(len(st.Description))
	}
	if code != 0 {
		n += 2
	}
	b = append(b, tagSpanStatus)
	b = appendVarint(b, uint64(n))
	if st.Description != "" {
		b = appendString(b, tagStatusMessage, st.Description)
	}
	if code != 0 {
		b = append(b, tagStatusCode, byte(code))
	}
	return b
}

func appendEvent(b []byte, ev *sdktrace.Event) []byte {
	b, start := openField(b, tagSpanEvents)
	if t := unixNano(ev.Time); t != 0 {
		b = appendFixed64(b, tagEventTime, t)
	}
	if ev.Name != "" {
		b = appendString(b, tagEventName, ev.Name)
	}
	for _, kv := range ev.Attributes {
		b = appendKeyValue(b, tagEventAttributes, kv)
	}
	if n := clampCount(ev.DroppedAttributeCount); n != 0 {
		b = appendVarint(append(b, tagEventDroppedAttrs), n)
	}
	return closeField(b, start)
}

func appendLink(b []byte, l *sdktrace.Link) []byte {
	b, start := openField(b, tagSpanLinks)
	sc := l.SpanContext
	tid, sid := sc.TraceID(), sc.SpanID()
	b = append(b, tagLinkTraceID, 16)
	b = append(b, tid[:]...)
	b = append(b, tagLinkSpanID, 8)
	b = append(b, sid[:]...)
	ts := sc.TraceState()
	b = appendTraceState(b, tagLinkTraceState, ts, traceStateLen(ts))
	for _, kv := range l.Attributes {
		b = appendKeyValue(b, tagLinkAttributes, kv)
	}
	if n := clampCount(l.DroppedAttributeCount); n != 0 {
		b = appendVarint(append(b, tagLinkDroppedAttrs), n)
	}
	b = appendFlags(b, tagLinkFlags, sc.TraceFlags(), sc.IsRemote())
	return closeField(b, start)
}

// appendKeyValue writes kv as a KeyValue field with the given tag.
func appendKeyValue(b []byte, tag byte, kv attribute.KeyValue) []byte {
	key := string(kv.Key)
	n := 0 // KeyValue size without the value's AnyValue
	if key != "" {
		n = sizeField(len(key))
	}
	b = append(b, tag)
	switch v := kv.Value; v.Type() {
	case attribute.STRING:
		// The common case, written in one go.
		s := v.AsString()
		inner := sizeField(len(s))
		kvLen := n + 1 + sizeVarint(uint64(inner)) + inner
		i := len(b)
		b = slices.Grow(b, sizeVarint(uint64(kvLen))+kvLen)[:i+sizeVarint(uint64(kvLen))+kvLen]
		i = putVarint(b, i, uint64(kvLen))
		if key != "" {
			b[i] = tagKVKey
			i = putVarint(b, i+1, uint64(len(key)))
			i += copy(b[i:], key)
		}
		b[i] = tagKVValue
		i = putVarint(b, i+1, uint64(inner))
		b[i] = tagAnyString
		i = putVarint(b, i+1, uint64(len(s)))
		copy(b[i:], s)
		return b
	case attribute.INT64:
		x := uint64(v.AsInt64())
		inner := 1 + sizeVarint(x)
		b = appendKeyValueHead(b, key, n, inner)
		return appendVarint(append(b, tagAnyInt), x)
	case attribute.BOOL:
		x := byte(0)
		if v.AsBool() {
			x = 1
		}
		b = appendKeyValueHead(b, key, n, 2)
		return append(b, tagAnyBool, x)
	case attribute.FLOAT64:
		b = appendKeyValueHead(b, key, n, 9)
		return appendFixed64(b, tagAnyDouble, math.Float64bits(v.AsFloat64()))
	case attribute.EMPTY:
		return appendKeyValueHead(b, key, n, 0)
	default:
		// Slices, maps and bytes: sized after writing.
		b = append(b, 0)
		start := len(b)
		if key != "" {
			b = appendString(b, tagKVKey, key)
		}
		b, vstart := openField(b, tagKVValue)
		b = appendAnyValueBody(b, v)
		b = closeField(b, vstart)
		return closeField(b, start)
	}
}

// appendKeyValueHead writes a KeyValue's length, its key and the head of
// its value field, whose AnyValue takes inner bytes.
func appendKeyValueHead(b []byte, key string, keySize, inner int) []byte {
	b = appendVarint(b, uint64(keySize+1+sizeVarint(uint64(inner))+inner))
	if key != "" {
		b = append(b, tagKVKey)
		b = appendVarint(b, uint64(len(key)))
		b = append(b, key...)
	}
	b = append(b, tagKVValue)
	return appendVarint(b, uint64(inner))
}

// appendAnyValueBody writes the fields of an AnyValue holding v.
func appendAnyValueBody(b []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.STRING:
		return appendString(b, tagAnyString, v.AsString())
	case attribute.BOOL:
		x := byte(0)
		if v.AsBool() {
			x = 1
		}
		return append(b, tagAnyBool, x)
	case attribute.INT64:
		return appendVarint(append(b, tagAnyInt), uint64(v.AsInt64()))
	case attribute.FLOAT64:
		return appendFixed64(b, tagAnyDouble, math.Float64bits(v.AsFloat64()))
	case attribute.BYTESLICE:
		return appendBytesValue(b, v)
	case attribute.BOOLSLICE:
		b, start := openField(b, tagAnyArray)
		for _, x := range v.AsBoolSlice() {
			y := byte(0)
			if x {
				y = 1
			}
			b = append(b, tagListValues, 2, tagAnyBool, y)
		}
		return closeField(b, start)
	case attribute.INT64SLICE:
		b, start := openField(b, tagAnyArray)
		for _, x := range v.AsInt64Slice() {
			n := protowire.SizeVarint(uint64(x))
			b = append(b, tagListValues, byte(1+n), tagAnyInt)
			b = protowire.AppendVarint(b, uint64(x))
		}
		return closeField(b, start)
	case attribute.FLOAT64SLICE:
		b, start := openField(b, tagAnyArray)
		for _, x := range v.AsFloat64Slice() {
			b = appendFixed64(append(b, tagListValues, 9), tagAnyDouble, math.Float64bits(x))
		}
		return closeField(b, start)
	case attribute.STRINGSLICE:
		b, start := openField(b, tagAnyArray)
		for _, x := range v.AsStringSlice() {
			b = append(b, tagListValues)
			b = appendVarint(b, uint64(sizeField(len(x))))
			b = appendString(b, tagAnyString, x)
		}
		return closeField(b, start)
	case attribute.SLICE:
		b, start := openField(b, tagAnyArray)
		for _, x := range v.AsSlice() {
			var vstart int
			b, vstart = openField(b, tagListValues)
			b = appendAnyValueBody(b, x)
			b = closeField(b, vstart)
		}
		return closeField(b, start)
	case attribute.MAP:
		b, start := openField(b, tagAnyKVList)
		for _, kv := range v.AsMap() {
			b = appendKeyValue(b, tagListValues, kv)
		}
		return closeField(b, start)
	}
	return b // EMPTY, or a type this version does not know: an empty AnyValue
}

// appendBytesValue writes a BYTESLICE value. The SDK keeps the bytes as a
// string that AsString returns without copying; AsByteSlice copies.
func appendBytesValue(b []byte, v attribute.Value) []byte {
	if s := v.AsString(); s != "" {
		return appendString(b, tagAnyBytes, s)
	}
	p := v.AsByteSlice()
	b = append(b, tagAnyBytes)
	b = appendVarint(b, uint64(len(p)))
	return append(b, p...)
}

// resourceField encodes ResourceSpans.resource for r.
func resourceField(r *resource.Resource) []byte {
	b, start := openField(nil, tagRSResource)
	for _, kv := range r.Attributes() {
		b = appendKeyValue(b, tagResourceAttributes, kv)
	}
	return closeField(b, start)
}

// scopeField encodes ScopeSpans.scope for sc.
func scopeField(sc instrumentation.Scope) []byte {
	b, start := openField(nil, tagSSScope)
	if sc.Name != "" {
		b = appendString(b, tagScopeName, sc.Name)
	}
	if sc.Version != "" {
		b = appendString(b, tagScopeVersion, sc.Version)
	}
	for _, kv := range sc.Attributes.ToSlice() {
		b = appendKeyValue(b, tagScopeAttributes, kv)
	}
	return closeField(b, start)
}

// schemaField encodes a schema_url field, or nothing for "".
func schemaField(tag byte, url string) []byte {
	if url == "" {
		return nil
	}
	return appendString(nil, tag, url)
}
