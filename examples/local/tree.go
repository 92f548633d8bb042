package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gcftrace/gcftrace/adapters/export/exporttest"
)

// keyPrefixes select the attributes printed without -v.
var keyPrefixes = []string{"http.", "url.", "faas.", "error.", "exception.message", "exception.type", "hello."}

// maxLine is where attribute lines wrap.
const maxLine = 100

// printer writes received spans as indented trees, one per trace, and the
// resource they came with whenever it changes.
type printer struct {
	w        io.Writer
	verbose  bool // every attribute and event
	resource *resourcepb.Resource
	scopes   map[string]bool
}

// trace is the spans of one trace id, in arrival order.
type traceSpans struct {
	id    []byte
	spans []exporttest.Span
}

// groupTraces groups spans by trace id, ordered by the earliest start.
func groupTraces(spans []exporttest.Span) []traceSpans {
	var out []traceSpans
	index := map[string]int{}
	for _, s := range spans {
		k := string(s.Span.GetTraceId())
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, traceSpans{id: s.Span.GetTraceId()})
		}
		out[i].spans = append(out[i].spans, s)
	}
	slices.SortStableFunc(out, func(a, b traceSpans) int {
		return cmpUint(earliest(a.spans), earliest(b.spans))
	})
	return out
}

func earliest(spans []exporttest.Span) uint64 {
	m := spans[0].Span.GetStartTimeUnixNano()
	for _, s := range spans[1:] {
		m = min(m, s.Span.GetStartTimeUnixNano())
	}
	return m
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// print writes the traces in spans.
func (p *printer) print(spans []exporttest.Span) {
	for _, t := range groupTraces(spans) {
		p.printResource(t.spans)
		p.printTrace(t)
	}
}

// printResource writes the resource (and the instrumentation scopes) of
// spans when it differs from the last one written.
func (p *printer) printResource(spans []exporttest.Span) {
	res := spans[0].Resource
	printed := false
	if p.resource == nil || !proto.Equal(p.resource, res) {
		printed = true
		p.resource = res
		p.scopes = map[string]bool{}
		fmt.Fprintln(p.w, "resource")
		attrs := sortedAttrs(res.GetAttributes())
		width := 0
		for _, kv := range attrs {
			width = max(width, len(kv.GetKey()))
		}
		for _, kv := range attrs {
			fmt.Fprintf(p.w, "  %-*s  %s\n", width, kv.GetKey(), formatValue(kv.GetValue()))
		}
	}
	var scopes []string
	for _, s := range spans {
		name := strings.TrimSpace(s.Scope.GetName() + " " + s.Scope.GetVersion())
		if name != "" && !p.scopes[name] {
			p.scopes[name] = true
			scopes = append(scopes, name)
		}
	}
	for _, s := range scopes {
		fmt.Fprintf(p.w, "  scope  %s\n", s)
	}
	if printed || len(scopes) > 0 {
		fmt.Fprintln(p.w)
	}
}

// node is a span and its children in the tree.
type node struct {
	span     *tracepb.Span
	children []*node
}

// printTrace writes one trace as a tree. Spans whose parent did not arrive
// (a remote parent, or a lost span) are roots.
func (p *printer) printTrace(t traceSpans) {
	nodes := map[string]*node{}
	for _, s := range t.spans {
		nodes[string(s.Span.GetSpanId())] = &node{span: s.Span}
	}
	var roots []*node
	for _, s := range t.spans {
		n := nodes[string(s.Span.GetSpanId())]
		if parent, ok := nodes[string(s.Span.GetParentSpanId())]; ok && parent != n {
			parent.children = append(parent.children, n)
		} else {
			roots = append(roots, n)
		}
	}
	byStart := func(a, b *node) int {
		return cmpUint(a.span.GetStartTimeUnixNano(), b.span.GetStartTimeUnixNano())
	}
	slices.SortStableFunc(roots, byStart)
	for _, n := range nodes {
		slices.SortStableFunc(n.children, byStart)
	}

	fmt.Fprintf(p.w, "trace %s", hex.EncodeToString(t.id))
	for _, r := range roots {
		if parent := r.span.GetParentSpanId(); len(parent) > 0 {
			fmt.Fprintf(p.w, "  remote parent %s", hex.EncodeToString(parent))
		}
	}
	fmt.Fprintln(p.w)

	width := 0
	var measure func(n *node, depth int)
	measure = func(n *node, depth int) {
		width = max(width, 3*depth+utf8.RuneCountInString(n.span.GetName()))
		for _, c := range n.children {
			measure(c, depth+1)
		}
	}
	for _, r := range roots {
		measure(r, 0)
	}
	for _, r := range roots {
		p.printNode(r, "  ", "  ", 0, width)
	}
	fmt.Fprintln(p.w)
}

// printNode writes n after linePrefix, its details after restPrefix and its
// children below, with tree lines.
func (p *printer) printNode(n *node, linePrefix, restPrefix string, depth, width int) {
	s := n.span
	pad := width - 3*depth - utf8.RuneCountInString(s.GetName())
	fmt.Fprintf(p.w, "%s%s%s  %-8s  %9s  %s\n",
		linePrefix, s.GetName(), strings.Repeat(" ", pad),
		kind(s.GetKind()), duration(s), status(s.GetStatus()))

	detail := restPrefix + "   "
	if len(n.children) > 0 {
		detail = restPrefix + "│  "
	}
	p.printAttrs(detail, "", s.GetAttributes())
	for _, e := range s.GetEvents() {
		if !p.verbose && e.GetName() != "exception" {
			continue
		}
		p.printAttrs(detail, "event "+e.GetName()+": ", e.GetAttributes())
	}

	for i, c := range n.children {
		if i == len(n.children)-1 {
			p.printNode(c, restPrefix+"└─ ", restPrefix+"   ", depth+1, width)
		} else {
			p.printNode(c, restPrefix+"├─ ", restPrefix+"│  ", depth+1, width)
		}
	}
}

// printAttrs writes key=value pairs after prefix and lead, wrapped.
func (p *printer) printAttrs(prefix, lead string, attrs []*commonpb.KeyValue) {
	var parts []string
	for _, kv := range sortedAttrs(attrs) {
		if p.verbose || keyAttr(kv.GetKey()) {
			parts = append(parts, kv.GetKey()+"="+formatValue(kv.GetValue()))
		}
	}
	if len(parts) == 0 && lead == "" {
		return
	}
	var line bytes.Buffer
	line.WriteString(prefix + lead)
	start := line.Len()
	for _, part := range parts {
		if line.Len() > start && utf8.RuneCount(line.Bytes())+2+len(part) > maxLine {
			fmt.Fprintln(p.w, line.String())
			line.Reset()
			line.WriteString(prefix + strings.Repeat(" ", utf8.RuneCountInString(lead)))
			start = line.Len()
		}
		if line.Len() > start {
			line.WriteString("  ")
		}
		line.WriteString(part)
	}
	fmt.Fprintln(p.w, line.String())
}

func keyAttr(key string) bool {
	for _, p := range keyPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

func sortedAttrs(attrs []*commonpb.KeyValue) []*commonpb.KeyValue {
	out := slices.Clone(attrs)
	slices.SortStableFunc(out, func(a, b *commonpb.KeyValue) int { return strings.Compare(a.GetKey(), b.GetKey()) })
	return out
}

// formatValue renders an attribute value; strings are quoted when they hold
// spaces or are empty.
func formatValue(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		s := x.StringValue
		if s == "" || strings.ContainsAny(s, " \t\n\"") {
			return strconv.Quote(s)
		}
		return s
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return hex.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		var parts []string
		for _, e := range x.ArrayValue.GetValues() {
			parts = append(parts, formatValue(e))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case *commonpb.AnyValue_KvlistValue:
		var parts []string
		for _, kv := range x.KvlistValue.GetValues() {
			parts = append(parts, kv.GetKey()+"="+formatValue(kv.GetValue()))
		}
		return "{" + strings.Join(parts, " ") + "}"
	}
	return "-"
}

func kind(k tracepb.Span_SpanKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "SPAN_KIND_"))
}

func status(s *tracepb.Status) string {
	switch s.GetCode() {
	case tracepb.Status_STATUS_CODE_OK:
		return "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		if s.GetMessage() != "" {
			return "error " + strconv.Quote(s.GetMessage())
		}
		return "error"
	}
	return "unset"
}

// duration renders a span's duration in µs, ms or s.
func duration(s *tracepb.Span) string {
	start, end := s.GetStartTimeUnixNano(), s.GetEndTimeUnixNano()
	if end < start {
		return "?"
	}
	return formatDuration(time.Duration(end - start))
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
