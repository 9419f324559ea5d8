//go:build !(cgo && linux)

package sysmon

import "errors"

// openGPUs: NVML is reached through cgo on Linux; elsewhere GPUs are not
// read.
func openGPUs() (gpuSource, error) {
	return nil, errors.New("sysmon: GPU monitoring needs a cgo build on Linux")
}
