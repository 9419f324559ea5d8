package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// v1AuthAll is the workspace entry of Options.APIKeys that grants every
// workspace.
const v1AuthAll = "*"

// keyring holds the configured API keys as SHA-256 digests. Comparing
// digests rather than the keys themselves makes every comparison the same
// length, so neither a key's length nor its content leaks through timing;
// match compares against every key, with no early exit, so which key
// matched does not leak either.
type keyring struct {
	digests [][sha256.Size]byte
	grants  []keyGrant // parallel to digests
}

// keyGrant is what one key may use.
type keyGrant struct {
	all        bool
	workspaces []string // in configuration order, "*" removed
}

func newKeyring(keys map[string][]string) *keyring {
	kr := &keyring{}
	for k, wss := range keys {
		if k == "" {
			continue // an empty key would match a missing header
		}
		var g keyGrant
		for _, ws := range wss {
			if ws == v1AuthAll {
				g.all = true
				continue
			}
			g.workspaces = append(g.workspaces, ws)
		}
		kr.digests = append(kr.digests, sha256.Sum256([]byte(k)))
		kr.grants = append(kr.grants, g)
	}
	return kr
}

// match returns the grant of key and whether key is configured. It runs in
// time independent of which key (if any) matches.
func (kr *keyring) match(key string) (keyGrant, bool) {
	d := sha256.Sum256([]byte(key))
	found, idx := 0, 0
	for i := range kr.digests {
		eq := subtle.ConstantTimeCompare(d[:], kr.digests[i][:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		found |= eq
	}
	if found == 0 || key == "" {
		return keyGrant{}, false
	}
	return kr.grants[idx], true
}

// allows reports whether the grant covers workspace ws.
func (g keyGrant) allows(ws string) bool {
	if g.all {
		return true
	}
	for _, w := range g.workspaces {
		if w == ws {
			return true
		}
	}
	return false
}

// bearerKey extracts the key of an "Authorization: Bearer <key>" header.
func bearerKey(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(key)
}

// authenticate checks the request's API key: 401 when it is missing or
// unknown.
func (v *apiV1) authenticate(r *http.Request) (keyGrant, *apiError) {
	g, ok := v.keys.match(bearerKey(r))
	if !ok {
		return keyGrant{}, &apiError{http.StatusUnauthorized, "Auth.InvalidKey", "Invalid API key",
			"send a valid key in the header Authorization: Bearer <key>"}
	}
	return g, nil
}

// v1Authorize checks that the grant covers workspace ws: 403 otherwise.
func v1Authorize(g keyGrant, ws string) *apiError {
	if g.allows(ws) {
		return nil
	}
	return &apiError{http.StatusForbidden, "Auth.Forbidden", "Access denied",
		"this API key has no access to workspace " + v1Quote(ws)}
}

// v1Quote quotes a client-given name for an error detail, cut short so an
// error body never echoes a whole hostile parameter.
func v1Quote(s string) string {
	const maxEcho = 200
	if len(s) > maxEcho {
		s = s[:maxEcho] + "..."
	}
	return "'" + strings.ToValidUTF8(s, "\uFFFD") + "'"
}
