//go:build unix

package run

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
)

func monitoredOptions(t *testing.T, id string) Options {
	opts, _ := testOptions(t)
	opts.RunID = id
	opts.Monitoring = MonitoringOptions{}
	return opts
}

func TestMonitoringConsoleAndStatics(t *testing.T) {
	opts := monitoredOptions(t, "watched")
	r, err := New(opts)
	require.NoError(t, err)
	ns := r.mon.ns
	require.Regexp(t, regexp.MustCompile(`^monitoring/[0-9a-f]{8}$`), ns)

	fmt.Println("epoch 1: loss 0.52")
	fmt.Fprintln(os.Stderr, "warning: lr is high")
	os.Stdout.WriteString("\r 50%\r100%\n")
	require.NoError(t, r.Close())

	ro, err := OpenReadOnly("watched", opts)
	require.NoError(t, err)
	defer ro.Close()
	out, err := ro.Strings(ns + "/stdout")
	require.NoError(t, err)
	require.Equal(t, []string{"epoch 1: loss 0.52", "100%"}, []string{out[0].Value, out[1].Value})
	require.Equal(t, []float64{0, 1}, []float64{out[0].Step, out[1].Step}, "one step per line")
	errs, err := ro.Strings(ns + "/stderr")
	require.NoError(t, err)
	require.Equal(t, "warning: lr is high", errs[0].Value)

	host, _ := os.Hostname()
	require.Equal(t, engine.String(host), mustGet(t, ro, ns+"/hostname"))
	require.Equal(t, engine.Int(int64(os.Getpid())), mustGet(t, ro, ns+"/pid"))
	require.Equal(t, engine.TypeInt, mustGet(t, ro, ns+"/tid").Type)
}

func TestMonitoringSwitches(t *testing.T) {
	opts := monitoredOptions(t, "partial")
	opts.Monitoring = MonitoringOptions{NoStdout: true, Namespace: "monitoring/custom"}
	r, err := New(opts)
	require.NoError(t, err)
	fmt.Println("not stored")
	fmt.Fprintln(os.Stderr, "stored")
	require.NoError(t, r.Close())
	ro, err := OpenReadOnly("partial", opts)
	require.NoError(t, err)
	defer ro.Close()
	require.False(t, ro.Exists("monitoring/custom/stdout"))
	errs, err := ro.Strings("monitoring/custom/stderr")
	require.NoError(t, err)
	require.Equal(t, "stored", errs[0].Value)

	opts = monitoredOptions(t, "off")
	opts.Monitoring.Off = true
	r, err = New(opts)
	require.NoError(t, err)
	require.Nil(t, r.mon)
	fields, err := r.Fields()
	require.NoError(t, err)
	for _, f := range fields {
		require.False(t, strings.HasPrefix(f.Path, "monitoring/"), f.Path)
	}
	require.NoError(t, r.Close())
}

// TestMonitoringTwoRuns: two runs of one process share the capture, each
// under its own namespace, and both get the line.
func TestMonitoringTwoRuns(t *testing.T) {
	optsA, optsB := monitoredOptions(t, "a"), monitoredOptions(t, "b")
	optsB.Home = optsA.Home
	a, err := New(optsA)
	require.NoError(t, err)
	b, err := New(optsB)
	require.NoError(t, err)
	require.NotEqual(t, a.mon.ns, b.mon.ns)
	fmt.Println("shared line")
	require.NoError(t, a.Close())
	fmt.Println("only b now")
	require.NoError(t, b.Close())

	for id, want := range map[string][]string{"a": {"shared line"}, "b": {"shared line", "only b now"}} {
		r, err := OpenReadOnly(id, optsA)
		require.NoError(t, err)
		ns := map[string]string{"a": a.mon.ns, "b": b.mon.ns}[id]
		pts, err := r.Strings(ns + "/stdout")
		require.NoError(t, err)
		var got []string
		for _, p := range pts {
			got = append(got, p.Value)
		}
		require.Equal(t, want, got, id)
		require.NoError(t, r.Close())
	}
}

func TestPanicTracebackStored(t *testing.T) {
	opts := monitoredOptions(t, "boom")
	opts.Monitoring.NoStdout, opts.Monitoring.NoStderr = true, true
	r, err := New(opts)
	require.NoError(t, err)
	func() {
		defer func() { _ = recover() }()
		defer r.Close()
		defer r.CloseOnPanic()
		panic("exploded")
	}()
	ro, err := OpenReadOnly("boom", opts)
	require.NoError(t, err)
	defer ro.Close()
	tb, err := ro.Strings(r.mon.ns + "/traceback")
	require.NoError(t, err)
	require.Len(t, tb, 1)
	require.Equal(t, 0.0, tb[0].Step)
	require.Contains(t, tb[0].Value, "TestPanicTracebackStored")
	require.Contains(t, tb[0].Value, "goroutine ")
	info, err := ro.Info()
	require.NoError(t, err)
	require.Equal(t, StatusFailed, info.State)
}

func TestMonitoringHardware(t *testing.T) {
	opts := monitoredOptions(t, "hw")
	opts.Monitoring = MonitoringOptions{NoStdout: true, NoStderr: true, HardwareInterval: 30 * time.Millisecond}
	r, err := New(opts)
	require.NoError(t, err)
	ns := r.mon.ns
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, r.Close())

	ro, err := OpenReadOnly("hw", opts)
	require.NoError(t, err)
	defer ro.Close()
	cpu, err := ro.Metric(ns + "/cpu")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(cpu), 3, "a sample at start, then every interval")
	for i, p := range cpu {
		require.Equal(t, float64(i), p.Step, "one step per sample")
		require.True(t, p.Value >= 0 && p.Value <= 100, "cpu %v", p.Value)
	}
	mem, err := ro.Metric(ns + "/memory")
	require.NoError(t, err)
	require.Greater(t, mem[0].Value, 0.0)
	g, err := ro.Metric(ns + "/go_goroutines")
	require.NoError(t, err)
	require.GreaterOrEqual(t, g[0].Value, 1.0)
	if !ro.Exists(ns + "/gpu") {
		st := mustGet(t, ro, ns+"/gpu_status")
		require.NotEmpty(t, st.Str, "why GPUs are skipped is recorded")
	}
}
