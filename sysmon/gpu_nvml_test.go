//go:build cgo && linux

package sysmon

import (
	"math"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/stretchr/testify/require"
)

// fakeNVML is a machine with the given GPU UUIDs; a UUID starting with
// MIG- is a MIG instance, which reports no utilisation, power or
// temperature, as real ones do.
func fakeNVML(t *testing.T, uuids ...string) (*mock.Interface, *int) {
	devs := make([]*mock.Device, len(uuids))
	for i, u := range uuids {
		mig := u[:4] == "MIG-"
		devs[i] = &mock.Device{
			GetUUIDFunc: func() (string, nvml.Return) { return u, nvml.SUCCESS },
			GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) {
				if mig {
					return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED
				}
				return nvml.Utilization{Gpu: uint32(10 * (i + 1))}, nvml.SUCCESS
			},
			GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
				return nvml.Memory{Total: 4000, Used: uint64(1000 * (i + 1))}, nvml.SUCCESS
			},
			GetPowerUsageFunc: func() (uint32, nvml.Return) {
				if mig {
					return 0, nvml.ERROR_NOT_SUPPORTED
				}
				return uint32(100_500 + i), nvml.SUCCESS
			},
			GetTemperatureFunc: func(nvml.TemperatureSensors) (uint32, nvml.Return) {
				if mig {
					return 0, nvml.ERROR_NOT_SUPPORTED
				}
				return uint32(60 + i), nvml.SUCCESS
			},
		}
	}
	shutdowns := new(int)
	lib := &mock.Interface{
		InitFunc:           func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:       func() nvml.Return { *shutdowns++; return nvml.SUCCESS },
		DeviceGetCountFunc: func() (int, nvml.Return) { return len(devs), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i < 0 || i >= len(devs) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			return devs[i], nvml.SUCCESS
		},
		DeviceGetHandleByUUIDFunc: func(s string) (nvml.Device, nvml.Return) {
			for i, u := range uuids {
				if u == s {
					return devs[i], nvml.SUCCESS
				}
			}
			return nil, nvml.ERROR_NOT_FOUND
		},
	}
	return lib, shutdowns
}

func TestCudaVisibleDevices(t *testing.T) {
	uuids := []string{"GPU-aaaa-1111", "GPU-bbbb-2222", "GPU-bbbc-3333", "MIG-cccc-4444"}
	cases := []struct {
		name string
		spec string
		set  bool
		want []string // UUIDs, in the process's numbering
	}{
		{"unset: every device", "", false, uuids},
		{"empty: none", "", true, nil},
		{"indices reorder", "2,0", true, []string{uuids[2], uuids[0]}},
		{"cut at the first invalid", "1,9,0", true, []string{uuids[1]}},
		{"negative hides all", "-1,0", true, nil},
		{"full uuid", "GPU-bbbb-2222", true, []string{uuids[1]}},
		{"unique prefix", "GPU-a", true, []string{uuids[0]}},
		{"ambiguous prefix stops", "GPU-bbb,0", true, nil},
		{"mig instance", "MIG-cccc-4444", true, []string{uuids[3]}},
		{"spaces tolerated", " 0 , 1 ", true, uuids[:2]},
		{"garbage", "all", true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lib, _ := fakeNVML(t, uuids...)
			var got []string
			for _, d := range visibleDevices(lib, len(uuids), tc.spec, tc.set) {
				u, _ := d.GetUUID()
				got = append(got, u)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNVMLReadings(t *testing.T) {
	lib, shutdowns := fakeNVML(t, "GPU-x", "MIG-y")
	src, err := openNVML(lib, "", false)
	require.NoError(t, err)
	r := src.read()
	require.Len(t, r, 2)
	require.Equal(t, GPUReading{Index: 0, Utilization: 10, MemoryUsed: 25, PowerW: 100.5, TemperatureC: 60}, r[0])
	require.Equal(t, 1, r[1].Index)
	require.True(t, math.IsNaN(r[1].Utilization), "a MIG instance has no utilisation: skipped, not failed")
	require.True(t, math.IsNaN(r[1].PowerW))
	require.Equal(t, 50.0, r[1].MemoryUsed)
	src.close()
	require.Equal(t, 1, *shutdowns)

	// Two GPUs: suffixed names; the MIG gaps left out.
	names := []string{}
	for _, m := range (Reading{CPUPercent: math.NaN(), MemoryGB: math.NaN(), HeapMB: math.NaN(), Goroutines: math.NaN(), GPUs: r}).Metrics() {
		names = append(names, m.Name)
	}
	require.Equal(t, []string{"gpu_0", "gpu_memory_0", "gpu_power_0", "gpu_temperature_0", "gpu_memory_1"}, names)
}

func TestNVMLUnavailable(t *testing.T) {
	lib, shutdowns := fakeNVML(t)
	lib.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
	_, err := openNVML(lib, "", false)
	require.ErrorContains(t, err, "NVML unavailable")
	require.Equal(t, 0, *shutdowns, "nothing to shut down")

	lib, shutdowns = fakeNVML(t, "GPU-x")
	_, err = openNVML(lib, "", true) // CUDA_VISIBLE_DEVICES="" hides every GPU
	require.ErrorIs(t, err, errNoGPU)
	require.Equal(t, 1, *shutdowns, "the library is released")

	// The real library, absent on a machine without the NVIDIA driver:
	// an error, never a crash.
	if src, err := openGPUs(); err == nil {
		t.Logf("NVML present: %d GPUs read", len(src.read()))
		src.close()
	}
}
