//go:build !unix

package server

import "time"

// v1ProcessCPU is not measured here; the points/cpu-s metric then reads +Inf.
func v1ProcessCPU() time.Duration { return 0 }
