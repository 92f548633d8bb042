package metadata

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gcftrace/gcftrace/ports"
)

// maxBodyBytes bounds every response body read from the metadata server.
// The longest value asked for, a Cloud Run instance id, is a few hundred
// bytes.
const maxBodyBytes = 4 << 10

// maxInstanceID bounds an instance id's length.
const maxInstanceID = 1024

var (
	errTooLarge = errors.New("response body over " + strconv.Itoa(maxBodyBytes) + " bytes")
	errHTML     = errors.New("HTML response")
	errNoFlavor = errors.New("response without Metadata-Flavor: Google")
	errInvalid  = errors.New("invalid value")
)

// The header the metadata server marks every answer with, and its value.
const (
	flavorHeader = "Metadata-Flavor"
	flavorGoogle = "Google"
)

// A lookup is one metadata path and the Environment field it fills.
type lookup struct {
	path  string // relative to /computeMetadata/v1/
	parse func(string) (string, error)
	field func(*ports.Environment) *string
}

// lookups are the metadata paths the Source asks for, each only when the
// process environment and the Config leave its field empty.
var lookups = [...]lookup{
	{"project/project-id", parseProjectID, func(e *ports.Environment) *string { return &e.ProjectID }},
	{"project/numeric-project-id", parseNumericProjectID, func(e *ports.Environment) *string { return &e.NumericProjectID }},
	{"instance/region", parseRegion, func(e *ports.Environment) *string { return &e.Region }},
	{"instance/zone", parseZone, func(e *ports.Environment) *string { return &e.Zone }},
	{"instance/id", parseInstanceID, func(e *ports.Environment) *string { return &e.InstanceID }},
}

var (
	// Project ids are 6 to 30 lowercase letters, digits and hyphens,
	// starting with a letter; legacy ones may carry a domain prefix
	// ("example.com:my-project"). The pattern is a little more lenient.
	projectIDRe = regexp.MustCompile(`^(?:[a-z0-9][-a-z0-9.]{0,62}:)?[a-z][-a-z0-9]{2,62}[a-z0-9]$`)
	numericRe   = regexp.MustCompile(`^[0-9]{1,20}$`)
	regionRe    = regexp.MustCompile(`^[a-z]+(?:-[a-z]+)*[0-9]+$`)                     // europe-west3
	zoneRe      = regexp.MustCompile(`^[a-z]+(?:-[a-z]+)*[0-9]+-[a-z0-9]{1,8}$`)       // europe-west3-1, us-central1-a
	locationRe  = regexp.MustCompile(`^projects/[0-9]{1,20}/(regions|zones)/([^/]+)$`) // the server's resource path
	instanceRe  = regexp.MustCompile(`^[0-9A-Za-z_-]+$`)                               // at most maxInstanceID bytes
)

func parseProjectID(s string) (string, error)        { return match(projectIDRe, s) }
func parseNumericProjectID(s string) (string, error) { return match(numericRe, s) }
func parseInstanceID(s string) (string, error) {
	if len(strings.TrimSpace(s)) > maxInstanceID {
		return "", invalid(s)
	}
	return match(instanceRe, s)
}
func parseRegion(s string) (string, error) { return parseLocation("regions", regionRe, s) }
func parseZone(s string) (string, error)   { return parseLocation("zones", zoneRe, s) }

// parseLocation takes the last segment of projects/<n>/<kind>/<name>; a
// bare name is accepted too.
func parseLocation(kind string, re *regexp.Regexp, s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		m := locationRe.FindStringSubmatch(s)
		if m == nil || m[1] != kind {
			return "", invalid(s)
		}
		s = m[2]
	}
	return match(re, s)
}

func match(re *regexp.Regexp, s string) (string, error) {
	s = strings.TrimSpace(s)
	if !re.MatchString(s) {
		return "", invalid(s)
	}
	return s, nil
}

func invalid(s string) error {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Errorf("%w %q", errInvalid, s)
}

// A connError is a failed round trip. It hides its cause from errors.Is and
// from Temporary checks so that the metadata client does not retry it
// within a round: a refused or reset connection ends the attempt at once
// and the Source's own background rounds retry it later.
type connError struct{ cause error }

func (e *connError) Error() string { return e.cause.Error() }

// A dialFunc opens connections; tests count them.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// maxResponseBytes bounds what is read from a connection: a header block of
// up to 16 KiB, the body and one byte to tell an oversized body. A longer
// header block fails as a truncated response.
const maxResponseBytes = 16<<10 + maxBodyBytes + 1

// pastDeadline unblocks a connection's pending reads and writes.
var pastDeadline = time.Unix(1, 0)

// transport is the metadata client's http.RoundTripper. It sends every
// request to the metadata host the Source chose (the client itself would
// read GCE_METADATA_HOST from the process environment, not through
// WithGetenv), never through a proxy, bounds the response, and rejects
// answers that do not come from a metadata server (no "Metadata-Flavor:
// Google" header), HTML and oversized answers.
//
// Each request has a connection of its own, closed after the response: the
// lookups of a round run in parallel, and HTTP/1.1 serves one request at a
// time per connection, so a round needs one connection per lookup whatever
// the pool, and retry rounds are seconds apart. Unlike an http.Transport it
// starts no goroutine per connection and keeps nothing open between rounds,
// which ends a fresh process's first round of five lookups 0.1 to 0.25 ms
// sooner.
type transport struct {
	host string // as the Host header names it: GCE_METADATA_HOST or 169.254.169.254
	addr string // host with a port, to dial
	dial dialFunc
}

func newTransport(host string, dial dialFunc) *transport {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return &transport{host: host, addr: withPort(host), dial: dial}
}

// withPort returns host:port to dial: host as it is when it names a port,
// else with HTTP's port 80, as a URL's host would be read. The metadata
// server's address (169.254.169.254) and GCE_METADATA_HOST values such as
// "metadata.google.internal" or "[::1]" name none.
func withPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), "80")
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(req)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, &connError{cause: err}
	}
	return resp, nil
}

// roundTrip makes one HTTP/1.1 exchange on a new connection, bounded by the
// request's context.
func (t *transport) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	conn, err := t.dial(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(pastDeadline) })
	defer stop()

	r := req.Clone(ctx)
	r.URL.Scheme = "http"
	r.URL.Host = t.host
	r.Host = ""
	r.Close = true // "Connection: close": one request per connection
	if err := r.Write(conn); err != nil {
		return nil, ctxErr(ctx, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.LimitReader(conn, maxResponseBytes)), r)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	body, err := readBody(resp)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// ctxErr prefers the context's error to the I/O error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// readBody reads and closes resp.Body. A 200 answer must carry
// "Metadata-Flavor: Google", as the metadata server marks its answers (a
// captive portal or a proxy answering 200 does not), must fit maxBodyBytes
// and must not be HTML; any other answer is truncated (the metadata client
// puts it into its error). A rejected 200 is a failed round trip, retried
// in a later round like any other failure, never "not defined".
func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	}
	if resp.Header.Get(flavorHeader) != flavorGoogle {
		return nil, errNoFlavor
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" {
		return nil, errHTML
	}
	if resp.ContentLength > maxBodyBytes {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBodyBytes {
		return nil, errTooLarge
	}
	return body, nil
}

// causeOf returns what a connError hides, for the logs.
func causeOf(err error) error {
	if ce, ok := errors.AsType[*connError](err); ok {
		return ce.cause
	}
	return err
}
