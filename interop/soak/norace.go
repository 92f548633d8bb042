//go:build !race

package soak

// raceEnabled is set when the race detector is on.
const raceEnabled = false
