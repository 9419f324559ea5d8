//go:build cgo && linux

package sysmon

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// errNoGPU: NVML works but the process may use no GPU.
var errNoGPU = errors.New("sysmon: no GPU visible to the process")

// openGPUs opens NVML (libnvidia-ml.so, loaded at run time: nothing of
// CUDA is needed to build) and picks the GPUs the process may use.
func openGPUs() (gpuSource, error) {
	spec, set := os.LookupEnv("CUDA_VISIBLE_DEVICES")
	return openNVML(nvml.New(), spec, set)
}

func openNVML(lib nvml.Interface, spec string, set bool) (gpuSource, error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("sysmon: NVML unavailable: %s", nvml.ErrorString(ret))
	}
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		lib.Shutdown()
		return nil, fmt.Errorf("sysmon: NVML device count: %s", nvml.ErrorString(ret))
	}
	devs := visibleDevices(lib, n, spec, set)
	if len(devs) == 0 {
		lib.Shutdown()
		return nil, errNoGPU
	}
	return &nvmlSource{lib: lib, devs: devs}, nil
}

// visibleDevices resolves CUDA_VISIBLE_DEVICES as CUDA does: unset means
// every device; otherwise a comma-separated list of indices, GPU-<uuid>
// (a unique prefix will do) or MIG-<uuid> entries, in the order the process
// numbers them, cut at the first entry that names no device.
func visibleDevices(lib nvml.Interface, n int, spec string, set bool) []nvml.Device {
	var devs []nvml.Device
	if !set {
		for i := range n {
			if d, ret := lib.DeviceGetHandleByIndex(i); ret == nvml.SUCCESS {
				devs = append(devs, d)
			}
		}
		return devs
	}
	for _, e := range strings.Split(spec, ",") {
		e = strings.TrimSpace(e)
		d, ok := lookupDevice(lib, n, e)
		if !ok {
			break
		}
		devs = append(devs, d)
	}
	return devs
}

func lookupDevice(lib nvml.Interface, n int, e string) (nvml.Device, bool) {
	if i, err := strconv.Atoi(e); err == nil {
		if i < 0 || i >= n {
			return nil, false
		}
		d, ret := lib.DeviceGetHandleByIndex(i)
		return d, ret == nvml.SUCCESS
	}
	if !strings.HasPrefix(e, "GPU-") && !strings.HasPrefix(e, "MIG-") {
		return nil, false
	}
	if d, ret := lib.DeviceGetHandleByUUID(e); ret == nvml.SUCCESS {
		return d, true
	}
	if !strings.HasPrefix(e, "GPU-") {
		return nil, false
	}
	var found nvml.Device
	for i := range n { // a unique prefix of a GPU's UUID
		d, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		if u, ret := d.GetUUID(); ret == nvml.SUCCESS && strings.HasPrefix(u, e) {
			if found != nil {
				return nil, false // ambiguous
			}
			found = d
		}
	}
	return found, found != nil
}

type nvmlSource struct {
	lib  nvml.Interface
	devs []nvml.Device
}

// read samples every visible device. A query a device does not support
// (utilisation and power of a MIG instance) leaves its value NaN.
func (s *nvmlSource) read() []GPUReading {
	out := make([]GPUReading, len(s.devs))
	for i, d := range s.devs {
		g := GPUReading{Index: i, Utilization: math.NaN(), MemoryUsed: math.NaN(), PowerW: math.NaN(), TemperatureC: math.NaN()}
		if u, ret := d.GetUtilizationRates(); ret == nvml.SUCCESS {
			g.Utilization = float64(u.Gpu)
		}
		if m, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS && m.Total > 0 {
			g.MemoryUsed = round2(100 * float64(m.Used) / float64(m.Total))
		}
		if p, ret := d.GetPowerUsage(); ret == nvml.SUCCESS {
			g.PowerW = round2(float64(p) / 1000)
		}
		if t, ret := d.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
			g.TemperatureC = float64(t)
		}
		out[i] = g
	}
	return out
}

func (s *nvmlSource) close() { s.lib.Shutdown() }
