package export

import (
	"encoding/json"
	"mime"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// parsePartialSuccess reads ExportTraceServiceResponse.partial_success from
// a response body: binary protobuf, or OTLP/JSON when the Content-Type says
// so. Anything unreadable counts as no partial success.
func parsePartialSuccess(contentType string, body []byte) (rejected int64, msg string) {
	if len(body) == 0 {
		return 0, ""
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/json" {
		return parsePartialSuccessJSON(body)
	}
	return parsePartialSuccessProto(body)
}

// ExportTraceServiceResponse: partial_success = 1.
// ExportTracePartialSuccess: rejected_spans = 1 (int64), error_message = 2.
func parsePartialSuccessProto(b []byte) (rejected int64, msg string) {
	var ps []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return 0, ""
			}
			ps = v // the last one wins, as in proto.Unmarshal
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, ""
		}
		b = b[n:]
	}
	for len(ps) > 0 {
		num, typ, n := protowire.ConsumeTag(ps)
		if n < 0 {
			return 0, ""
		}
		ps = ps[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(ps)
			if n < 0 {
				return 0, ""
			}
			rejected = int64(v)
			ps = ps[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(ps)
			if n < 0 {
				return 0, ""
			}
			msg = string(v)
			ps = ps[n:]
		default:
			n = protowire.ConsumeFieldValue(num, typ, ps)
			if n < 0 {
				return 0, ""
			}
			ps = ps[n:]
		}
	}
	return max(rejected, 0), msg
}

func parsePartialSuccessJSON(b []byte) (rejected int64, msg string) {
	var r struct {
		PartialSuccess struct {
			RejectedSpans json.RawMessage `json:"rejectedSpans"`
			ErrorMessage  string          `json:"errorMessage"`
		} `json:"partialSuccess"`
	}
	if json.Unmarshal(b, &r) != nil {
		return 0, ""
	}
	raw := string(r.PartialSuccess.RejectedSpans)
	if uq, err := strconv.Unquote(raw); err == nil {
		raw = uq // proto3 JSON writes int64 as a string
	}
	rejected, _ = strconv.ParseInt(raw, 10, 64)
	return max(rejected, 0), r.PartialSuccess.ErrorMessage
}
