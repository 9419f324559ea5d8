//go:build !race

package engine

// raceEnabled: see corrupt_race_test.go.
const raceEnabled = false
