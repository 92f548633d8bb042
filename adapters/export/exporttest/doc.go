// Package exporttest provides [Sink], a real OTLP/HTTP trace receiver on a
// loopback port, for tests and local runs of the export path.
//
// A Sink answers POST requests on Dynatrace's trace path
// (/api/v2/otlp/v1/traces, [DynatracePath]) and on the standard OTLP path
// (/v1/traces, [OTLPPath]). It accepts binary protobuf bodies
// (Content-Type: application/x-protobuf), plain or gzip-compressed, decodes
// them with the official OTLP protos and records what arrived. It answers as
// the OTLP/HTTP specification says: 200 with an empty ExportTraceServiceResponse,
// or 400, 404, 405, 413 or 415 with a google.rpc.Status body.
//
// A Sink is test equipment: it keeps every request's headers as received,
// Authorization included, so that tests can check the credentials an
// exporter sends. Never point a production exporter at one.
//
// The package imports only the standard library and the protobuf and OTLP
// modules, so any package of this module can use it.
package exporttest
