// Package metadatatest provides [Server], an emulator of the GCE metadata
// server on a loopback port, for tests, benchmarks and local runs.
//
// A Server answers GET /computeMetadata/v1/<path> for the paths a Cloud
// Functions instance asks for ([PathProjectID], [PathNumericProjectID],
// [PathRegion], [PathZone], [PathInstanceID]) with the values of a
// consistent demo project ([DefaultProjectID] and friends), or with values
// set by [WithValue] and [Server.SetValue]. Like the real server it refuses
// requests without the header "Metadata-Flavor: Google" (403) and marks its
// responses with the same header (all but those of [FaultNoFlavor]). Point
// a client at it by setting
// GCE_METADATA_HOST to [Server.Host].
//
// Latency and faults are set at construction ([WithLatency], [WithFault])
// and changed at any time while requests are in flight ([Server.SetLatency],
// [Server.SetFault], [Server.SetPathFault], [Server.FailFirst]), so a
// benchmark or a soak test can cycle through phases. The faults are those a
// metadata client meets in the wild: a server that hangs, refuses
// connections, answers 404 or 500, sends a garbage, HTML or oversized body,
// or answers without "Metadata-Flavor: Google" (no metadata server at all). The Server counts requests per path and the highest number of
// requests it served at once ([Server.MaxInFlight]), which is how a test
// proves that lookups ran in parallel.
//
// The package imports only the standard library; [NewServer] needs no
// testing.T, so programs (a local run, a benchmark) can start one too.
package metadatatest
