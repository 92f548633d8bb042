// Package portstest holds behaviour-named fakes of the ports and the
// conformance suites that every implementation of a port runs.
package portstest
