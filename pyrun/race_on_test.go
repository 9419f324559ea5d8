//go:build race

package pyrun_test

// raceEnabled scales the kill test down under the race detector, which
// slows SQLite (C translated to Go) and so each import some fifteenfold.
const raceEnabled = true
