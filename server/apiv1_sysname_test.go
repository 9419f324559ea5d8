package server

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/run"
)

// TestAPIv1SysNameIsValidated: sys/name set through configs becomes the
// run's name (meta "name", Part A's experiment_name), so the rules POST
// runs applies to experiment_name, the run package's ValidateName, apply
// to it too: a name with a bidi override or a control character, refused
// at creation and by run.Set, never reaches the run list through a config.
// The config itself is what GoodSeed's client sent, and is stored as sent.
func TestAPIv1SysNameIsValidated(t *testing.T) {
	h, _, id := v1OneRun(t)
	setName := func(items ...string) int {
		rec := v1Serve(h, "POST", "/api/v1/runs/"+id+"/configs", v1TestKey, v1PyConfigsBody(items), "application/json", false)
		if rec.Code != http.StatusNoContent {
			require.Equal(t, "Request.Invalid", v1ErrorCode(t, rec))
		}
		return rec.Code
	}
	require.Equal(t, http.StatusNoContent, setName(v1PyConfig(run.PathName, "str", "good name ✓")))
	for _, bad := range []string{"safe\u202eexe.txt", "a\x00b", "line\nbreak", "\u2066iso\u2069", "zero\u200bwidth", "\ufeffbom"} {
		require.Equal(t, http.StatusNoContent, setName(v1PyConfig("c", "int", "1"), v1PyConfig(run.PathName, "str", bad)), "%q", bad)
		got := v1Decode[v1RunJSON](t, v1Serve(h, "GET", "/api/v1/runs/"+id, v1TestKey, nil, "", false).Body.Bytes())
		require.Equal(t, "good name ✓", got.Name, "%q is not the run's name", bad)
	}
	// A sys/name that is not a string names nothing (it is not mirrored):
	// stored as the config it is, as before.
	require.Equal(t, http.StatusNoContent, setName(v1PyConfig(run.PathName, "int", "3")))
}
