//go:build !race

package pyrun_test

const raceEnabled = false
