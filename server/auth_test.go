package server

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKeyringMatch(t *testing.T) {
	kr := newKeyring(map[string][]string{
		"key-one":   {"ws"},
		"key-two":   {"*"},
		"key-three": {"a", "*", "b"},
		"":          {"*"}, // ignored: it would match a missing header
	})
	g, ok := kr.match("key-one")
	require.True(t, ok)
	require.False(t, g.all)
	require.Equal(t, []string{"ws"}, g.workspaces)
	require.True(t, g.allows("ws"))
	require.False(t, g.allows("other"))

	g, ok = kr.match("key-two")
	require.True(t, ok)
	require.True(t, g.allows("anything"))

	g, ok = kr.match("key-three")
	require.True(t, ok)
	require.True(t, g.all)
	require.Equal(t, []string{"a", "b"}, g.workspaces, `"*" is not a workspace name`)

	for _, bad := range []string{"", "key", "key-one ", "key-onex", "KEY-ONE", "key-two\x00"} {
		_, ok := kr.match(bad)
		require.False(t, ok, "%q", bad)
	}
}

func TestBearerKey(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc":    "abc",
		"bearer  abc ":  "abc",
		"BEARER abc":    "abc",
		"Basic abc":     "",
		"Bearer":        "",
		"abc":           "",
		"":              "",
		"Bearerabc":     "",
		"Token abc def": "",
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		require.Equal(t, want, bearerKey(r), "%q", h)
	}
}

// v1Routes lists every route of Part B with a request that would succeed
// for an authorized key.
var v1Routes = []struct{ method, target string }{
	{"GET", "/api/v1/auth/me"},
	{"POST", "/api/v1/runs"},
	{"POST", "/api/v1/runs/ws~p~r/configs"},
	{"POST", "/api/v1/runs/ws~p~r/ingest"},
	{"POST", "/api/v1/runs/ws~p~r/status"},
	{"POST", "/api/v1/runs/ws~p~r/heartbeat"},
	{"GET", "/api/v1/runs/ws~p~r"},
	{"GET", "/api/v1/runs/ws~p~r/paths"},
	{"GET", "/api/v1/runs/ws~p~r/data/metrics?path=a"},
	{"GET", "/api/v1/runs/ws~p~r/data/strings?path=a"},
	{"GET", "/api/v1/workspaces"},
	{"GET", "/api/v1/workspaces/ws/projects"},
	{"POST", "/api/v1/workspaces/ws/projects"},
	{"GET", "/api/v1/workspaces/ws/projects/p/runs"},
	{"GET", "/api/v1/no/such/route"},
}

func TestAPIv1Unauthorized(t *testing.T) {
	home := t.TempDir()
	s, err := New(Options{Home: home, APIv1: true, APIKeys: map[string][]string{v1TestKey: {"*"}}})
	require.NoError(t, err)
	defer s.Close()
	h := s.Handler()
	for _, rt := range v1Routes {
		for _, auth := range []string{"", "Bearer wrong-key", "Basic " + v1TestKey, v1TestKey, "Bearer " + v1TestKey + "x"} {
			req := v1NewReq(rt.method, rt.target, `{"workspace": "ws", "project": "p", "run_id": "r", "name": "p"}`)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			rec := v1ServeReq(h, req)
			require.Equal(t, http.StatusUnauthorized, rec.Code, "%s %s with %q", rt.method, rt.target, auth)
			require.Equal(t, "Auth.InvalidKey", v1ErrorCode(t, rec))
			require.Contains(t, rec.Header().Get("WWW-Authenticate"), "Bearer")
		}
	}
	_, err = os.Stat(filepath.Join(home, "projects"))
	require.ErrorIs(t, err, os.ErrNotExist, "an unauthenticated request wrote nothing")
}

func TestAPIv1Forbidden(t *testing.T) {
	home := t.TempDir()
	keys := map[string][]string{v1TestKey: {"*"}, "limited": {"team-a", "team-b"}}
	s, err := New(Options{Home: home, APIv1: true, APIKeys: keys})
	require.NoError(t, err)
	defer s.Close()
	h := s.Handler()
	v1CreateRun(t, h, "ws", "p", "r") // exists, in a workspace "limited" may not use

	for _, rt := range v1Routes[1:14] {
		req := v1NewReq(rt.method, rt.target, `{"workspace": "ws", "project": "p2", "run_id": "r2", "name": "p2"}`)
		req.Header.Set("Authorization", "Bearer limited")
		rec := v1ServeReq(h, req)
		if rt.target == "/api/v1/workspaces" {
			require.Equal(t, http.StatusOK, rec.Code)
			require.Equal(t, []v1WorkspaceJSON{{"team-a", "owner"}, {"team-b", "owner"}}, v1Decode[[]v1WorkspaceJSON](t, rec.Body.Bytes()))
			continue
		}
		require.Equal(t, http.StatusForbidden, rec.Code, "%s %s: %s", rt.method, rt.target, rec.Body)
		require.Equal(t, "Auth.Forbidden", v1ErrorCode(t, rec))
	}
	for _, p := range []string{"p2", "p"} {
		_, err := os.Stat(filepath.Join(home, "projects", "ws", p, "runs", "r2"))
		require.ErrorIs(t, err, os.ErrNotExist, "a forbidden request wrote nothing")
	}

	// The limited key works in its own workspaces; auth/me names the first.
	req := v1NewReq("GET", "/api/v1/auth/me", "")
	req.Header.Set("Authorization", "Bearer limited")
	rec := v1ServeReq(h, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "team-a", v1Decode[map[string]string](t, rec.Body.Bytes())["name"])
	req = v1NewReq("POST", "/api/v1/runs", `{"workspace": "team-b", "project": "p", "run_id": "r"}`)
	req.Header.Set("Authorization", "Bearer limited")
	rec = v1ServeReq(h, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, "team-b~p~r", v1Decode[map[string]any](t, rec.Body.Bytes())["id"])

	// A "*" key without a configured default: auth/me says "default".
	rec = v1Serve(h, "GET", "/api/v1/auth/me", v1TestKey, nil, "", false)
	require.Equal(t, "default", v1Decode[map[string]string](t, rec.Body.Bytes())["name"])
}

func TestAPIv1DefaultWorkspace(t *testing.T) {
	s, err := New(Options{Home: t.TempDir(), APIv1: true, APIKeys: map[string][]string{v1TestKey: {"x"}}, DefaultWorkspace: "main"})
	require.NoError(t, err)
	defer s.Close()
	rec := v1Serve(s.Handler(), "GET", "/api/v1/auth/me", v1TestKey, nil, "", false)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "main", v1Decode[map[string]string](t, rec.Body.Bytes())["name"])
}

func TestAPIv1NeedsKeys(t *testing.T) {
	_, err := New(Options{Home: t.TempDir(), APIv1: true})
	require.Error(t, err)
	_, err = New(Options{Home: t.TempDir(), APIv1: true, APIKeys: map[string][]string{"": {"*"}}})
	require.Error(t, err, "an empty key is no key")
}

func TestAPIv1Disabled(t *testing.T) {
	s, err := New(Options{Home: t.TempDir()})
	require.NoError(t, err)
	defer s.Close()
	for _, rt := range v1Routes {
		rec := v1Serve(s.Handler(), rt.method, rt.target, v1TestKey, []byte(`{}`), "application/json", false)
		require.Equal(t, http.StatusNotFound, rec.Code, "%s %s", rt.method, rt.target)
		require.Equal(t, "API.Disabled", v1ErrorCode(t, rec))
	}
}
