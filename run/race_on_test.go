//go:build race

package run

// raceEnabled scales the crash tests down under the race detector, which
// slows the child processes tenfold.
const raceEnabled = true
