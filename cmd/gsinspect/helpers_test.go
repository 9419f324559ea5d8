package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// result is what one gsinspect command line printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// runCmd runs gsinspect with args in-process. vars are NAME=value
// environment entries the command sees (GOODSEED_HOME, ...); nothing else of
// the real environment leaks in.
func runCmd(t *testing.T, ctx context.Context, vars []string, args ...string) result {
	t.Helper()
	if ctx == nil {
		ctx = context.Background()
	}
	var out, errb bytes.Buffer
	e := &env{ctx: ctx, stdout: &out, stderr: &errb, getenv: func(k string) string {
		for _, kv := range vars {
			if name, val, ok := strings.Cut(kv, "="); ok && name == k {
				return val
			}
		}
		return ""
	}}
	code := execute(e, args)
	return result{out.String(), errb.String(), code}
}
