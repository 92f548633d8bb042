package handler

import (
	"net/url"
	"strings"
)

// redactedValue replaces the value of a sensitive query parameter.
const redactedValue = "REDACTED"

// RedactQuery replaces with "REDACTED" the values of the query parameters
// that carry credentials in signed URLs — AWSAccessKeyId, Signature, sig and
// X-Goog-Signature — as the HTTP semantic conventions recommend. A query
// without them is returned as is, without allocating. It is the default of
// [WithQueryRedactor].
func RedactQuery(rawQuery string) string {
	if !hasSensitiveKey(rawQuery) {
		return rawQuery
	}
	var b strings.Builder
	b.Grow(len(rawQuery))
	for i, pair := range strings.Split(rawQuery, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		key, _, hasValue := strings.Cut(pair, "=")
		if hasValue && sensitiveKey(key) {
			b.WriteString(key)
			b.WriteByte('=')
			b.WriteString(redactedValue)
			continue
		}
		b.WriteString(pair)
	}
	return b.String()
}

func hasSensitiveKey(q string) bool {
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if key, _, ok := strings.Cut(pair, "="); ok && sensitiveKey(key) {
			return true
		}
	}
	return false
}

func sensitiveKey(key string) bool {
	if strings.IndexByte(key, '%') >= 0 || strings.IndexByte(key, '+') >= 0 {
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
	}
	switch key {
	case "AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature":
		return true
	}
	return false
}
