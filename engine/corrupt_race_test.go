//go:build race

package engine

// raceEnabled: the race detector slows the corruption tests about tenfold,
// so they run fewer cases (corrupt_test.go).
const raceEnabled = true
