package run

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/remote"
)

// deadURL is a loopback address nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	return url
}

// TestCloudCloseNoWait: CloseTimeout < 0 makes Close return at once with
// the server unreachable, the uploader stopped (TestMain checks no
// goroutine is left) and what is left said; the local run is whole.
func TestCloudCloseNoWait(t *testing.T) {
	var notices syncBuffer
	url := deadURL(t)
	o := Options{Home: t.TempDir(), Project: "ws/p", RunID: "no-wait", Storage: StorageCloud, Notices: &notices,
		Git: GitOptions{Disabled: true}, Monitoring: MonitoringOptions{Off: true},
		Remote: RemoteOptions{URL: url, Key: "k", CloseTimeout: -1, Poll: time.Millisecond,
			Client: remote.ClientOptions{Backoff: remote.Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond}}}}
	r, err := New(o)
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, r.Field("x").Log(float64(i), float64(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, r.WaitUpload(ctx), ErrUploadPending)
	start := time.Now()
	require.NoError(t, r.Close())
	require.Less(t, time.Since(start), 2*time.Second)
	require.Contains(t, notices.String(), "bytes not yet acknowledged by "+url)
	require.ErrorIs(t, r.WaitUpload(context.Background()), ErrUploadPending, "a closed run's uploader is stopped")

	ro, err := OpenReadOnly("no-wait", Options{Home: o.Home, Project: "ws/p", Storage: StorageCloud})
	require.NoError(t, err, "a cloud run reads its local copy, no server needed")
	pts, err := ro.Metric("x")
	require.NoError(t, err)
	require.Len(t, pts, 100)
	require.NoError(t, ro.Close())
}

// TestLocalRunNoUpload: WaitUpload of a local run returns at once.
func TestLocalRunNoUpload(t *testing.T) {
	r, err := New(Options{Home: t.TempDir(), Quiet: true, Git: GitOptions{Disabled: true}, Monitoring: MonitoringOptions{Off: true}})
	require.NoError(t, err)
	require.NoError(t, r.WaitUpload(context.Background()))
	require.Zero(t, r.Uploaded().Points)
	require.NoError(t, r.Close())
}
