package run

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidateRunID(t *testing.T) {
	valid := []struct{ name, id string }{
		{"single letter", "a"},
		{"single upper", "Z"},
		{"single digit", "7"},
		{"generated style", "bold-falcon"},
		{"mixed", "Run_1-2"},
		{"digits at both ends", "1-run_2"},
		{"inner separators", "a" + strings.Repeat("-_", 63) + "b"},
		{"128 chars", strings.Repeat("a", MaxRunIDChars)},
	}
	for _, tc := range valid {
		t.Run("ok/"+tc.name, func(t *testing.T) {
			require.NoError(t, ValidateRunID(tc.id))
		})
	}

	invalid := []struct{ name, id string }{
		{"empty", ""},
		{"129 chars", strings.Repeat("a", MaxRunIDChars+1)},
		{"leading dash", "-run"},
		{"trailing dash", "run-"},
		{"leading underscore", "_run"},
		{"trailing underscore", "run_"},
		{"only dash", "-"},
		{"only underscore", "_"},
		{"slash", "a/b"},
		{"leading slash", "/ab"},
		{"backslash", `a\b`},
		{"dot inside", "a.b"},
		{"dot", "."},
		{"dotdot", ".."},
		{"dotdot path", "../x"},
		{"space", "a b"},
		{"trailing space", "ab "},
		{"tab", "a\tb"},
		{"newline", "a\nb"},
		{"unicode letter", "café"},
		{"unicode only", "é"},
		{"cyrillic lookalike", "аb"}, // U+0430, not ASCII 'a'
		{"NUL", "a\x00b"},
		{"colon", "a:b"},
		{"tilde", "~a"},
		{"invalid utf8", "a\xffb"},
	}
	for _, tc := range invalid {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			err := ValidateRunID(tc.id)
			require.ErrorIs(t, err, ErrInvalidRunID, "id %q", tc.id)
		})
	}
}

func TestValidateName(t *testing.T) {
	valid := []struct{ name, in string }{
		{"empty", ""},
		{"plain", "ResNet-50 baseline (lr=0.1)"},
		{"200 ascii", strings.Repeat("a", MaxNameChars)},
		{"200 two-byte chars", strings.Repeat("é", MaxNameChars)},   // 400 bytes
		{"200 three-byte chars", strings.Repeat("日", MaxNameChars)}, // 600 bytes
		{"200 four-byte chars", strings.Repeat("🚀", MaxNameChars)},  // 800 bytes
		{"emoji and cjk", "実験 🚀 #3"},
	}
	// Neighbours just outside each forbidden range.
	for _, r := range []rune{0x0020, 0x007E, 0x00A0, 0x2029, 0x202F, 0x2065, 0x206A, 0x200A, 0x2010, 0xFEFE, 0xFF00} {
		valid = append(valid, struct{ name, in string }{
			name: "neighbour " + runeName(r),
			in:   "a" + string(r) + "b",
		})
	}
	for _, tc := range valid {
		t.Run("ok/"+tc.name, func(t *testing.T) {
			require.NoError(t, ValidateName(tc.in))
		})
	}

	invalid := []struct{ name, in string }{
		{"201 ascii", strings.Repeat("a", MaxNameChars+1)},
		{"201 two-byte chars", strings.Repeat("é", MaxNameChars+1)},
		{"201 four-byte chars", strings.Repeat("🚀", MaxNameChars+1)},
		{"invalid byte", "a\xffb"},
		{"truncated sequence", "a\xc3"},
		{"surrogate half", "a\xed\xa0\x80b"},
		{"overlong slash", "a\xc0\xafb"},
	}
	// Both ends of every forbidden range, and some points inside.
	for _, r := range []rune{
		0x0000, 0x0009, 0x000A, 0x001F, // C0 controls
		0x007F, 0x0085, 0x009F, // DEL and C1 controls
		0x202A, 0x202C, 0x202E, // bidi embeddings and overrides
		0x2066, 0x2069, // bidi isolates
		0x200B, 0x200D, 0x200F, // zero-width and marks
		0xFEFF, // zero-width no-break space (BOM)
	} {
		invalid = append(invalid,
			struct{ name, in string }{"inside " + runeName(r), "a" + string(r) + "b"},
			struct{ name, in string }{"alone " + runeName(r), string(r)},
		)
	}
	for _, tc := range invalid {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			err := ValidateName(tc.in)
			require.ErrorIs(t, err, ErrInvalidName, "name %q", tc.in)
		})
	}
}

func runeName(r rune) string { return fmt.Sprintf("U+%04X", r) }

func TestValidateProject(t *testing.T) {
	seg128 := strings.Repeat("p", MaxProjectSegmentChars)
	valid := []string{
		"default", "ws/proj", "a.b", "x_y-z", "a", "A1", "ws.1/proj..2", "a.", "ws/a..b",
		seg128, seg128 + "/" + seg128,
	}
	for i, p := range valid {
		t.Run(fmt.Sprintf("ok/%d", i), func(t *testing.T) {
			require.NoError(t, ValidateProject(p))
		})
	}

	seg129 := strings.Repeat("p", MaxProjectSegmentChars+1)
	invalid := []struct{ name, in string }{
		{"empty", ""},
		{"absolute", "/abs"},
		{"trailing slash", "a/"},
		{"slash", "/"},
		{"double slash", "a//b"},
		{"dotdot", ".."},
		{"dot", "."},
		{"dotdot prefix", "../x"},
		{"dotdot suffix", "a/.."},
		{"hidden", ".hidden"},
		{"hidden project", "ws/.hidden"},
		{"backslash", `a\b`},
		{"three segments", "a/b/c"},
		{"windows path", `C:\x`},
		{"drive", "C:"},
		{"129-char segment", seg129},
		{"129-char second segment", "ws/" + seg129},
		{"space", "my project"},
		{"unicode", "projé"},
		{"NUL", "a\x00"},
		{"tilde", "~/x"},
	}
	for _, tc := range invalid {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			err := ValidateProject(tc.in)
			require.ErrorIs(t, err, ErrInvalidProject, "project %q", tc.in)
		})
	}
}

// TestProjectErrorQuotesRunes: an error names the character a user typed,
// never a byte of its UTF-8 ("ü", not "Ã").
func TestProjectErrorQuotesRunes(t *testing.T) {
	for in, want := range map[string]string{
		"ws/ünï": "'ü' (U+00FC)", "ws/my proj": "' ' (U+0020)", "ws/😀": "'😀' (U+1F600)",
		"ws/a\uFFFDb": "'\uFFFD' (U+FFFD)", "ws/a\xffb": "not valid UTF-8 at byte 1",
	} {
		err := ValidateProject(in)
		require.ErrorIs(t, err, ErrInvalidProject, in)
		require.Contains(t, err.Error(), want, in)
		require.NotContains(t, err.Error(), "Ã", in)
	}
}

func TestGenerateID(t *testing.T) {
	shape := regexp.MustCompile(`^[a-z]+-[a-z]+$`)
	seen := map[string]bool{}
	for range 1000 {
		id := generateID()
		require.NoError(t, ValidateRunID(id), "id %q", id)
		require.Regexp(t, shape, id)
		adj, animal, ok := strings.Cut(id, "-")
		require.True(t, ok)
		require.Contains(t, adjectives[:], adj, "id %q", id)
		require.Contains(t, animals[:], animal, "id %q", id)
		seen[id] = true
	}
	// 2500 combinations: 1000 draws giving fewer than 100 distinct ids
	// means the generator is not random.
	require.Greater(t, len(seen), 100)
}

func TestGenerateIDWordLists(t *testing.T) {
	word := regexp.MustCompile(`^[a-z]+$`)
	for name, list := range map[string][]string{"adjectives": adjectives[:], "animals": animals[:]} {
		t.Run(name, func(t *testing.T) {
			require.NotEmpty(t, list)
			seen := map[string]bool{}
			for _, w := range list {
				require.Regexp(t, word, w)
				require.False(t, seen[w], "duplicate %q in %s", w, name)
				seen[w] = true
			}
		})
	}
}

func TestCandidateID(t *testing.T) {
	for _, base := range []string{"bold-falcon", "a", "curious-albatross"} {
		require.Equal(t, base, candidateID(base, 1))
		require.Equal(t, base+"-2", candidateID(base, 2))
		require.Equal(t, base+"-3", candidateID(base, 3))
		require.Equal(t, base+"-999", candidateID(base, maxSuffix))
		for n := 1; n <= maxSuffix; n++ {
			require.NoError(t, ValidateRunID(candidateID(base, n)))
		}
	}
	// The longest words with the longest suffix still make a valid id.
	longest := func(ws []string) string {
		return slices.MaxFunc(ws, func(a, b string) int { return len(a) - len(b) })
	}
	base := longest(adjectives[:]) + "-" + longest(animals[:])
	require.NoError(t, ValidateRunID(candidateID(base, maxSuffix)))
	// Candidates are distinct.
	seen := map[string]bool{}
	for n := 1; n <= maxSuffix; n++ {
		id := candidateID("bold-falcon", n)
		require.False(t, seen[id], "candidate %d repeats %q", n, id)
		seen[id] = true
	}
}

// clearGoodseedEnv empties every variable resolve reads and points HOME at
// a fresh directory, which it returns.
func clearGoodseedEnv(t *testing.T) string {
	t.Helper()
	for _, k := range []string{EnvHome, EnvProject, EnvRunID, EnvStorage, "GOODSEED_API_URL", "GOODSEED_API_KEY"} {
		t.Setenv(k, "")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	return home
}

func TestResolve(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		userHome := clearGoodseedEnv(t)
		r, err := resolve(Options{})
		require.NoError(t, err)
		require.Equal(t, DefaultProject, r.Project)
		require.Equal(t, StorageLocal, r.Storage)
		require.Equal(t, filepath.Join(userHome, ".goodseed"), r.Home)
		require.Equal(t, filepath.Join(userHome, ".goodseed", "projects", "default", "runs", "id"), r.runDir("id"))
		require.Equal(t, 5*time.Second, r.Git.Timeout)
		require.NotNil(t, r.stderr)
	})

	t.Run("env used when options empty", func(t *testing.T) {
		clearGoodseedEnv(t)
		envHome := t.TempDir()
		t.Setenv(EnvProject, "ws/envproj")
		t.Setenv(EnvHome, envHome)
		t.Setenv(EnvStorage, "disabled")
		r, err := resolve(Options{})
		require.NoError(t, err)
		require.Equal(t, "ws/envproj", r.Project)
		require.Equal(t, envHome, r.Home)
		require.Equal(t, StorageDisabled, r.Storage)
		require.Equal(t, filepath.Join(envHome, "projects", "ws", "envproj", "runs", "x1"), r.runDir("x1"))
	})

	t.Run("options win over env", func(t *testing.T) {
		clearGoodseedEnv(t)
		envHome, optHome := t.TempDir(), t.TempDir()
		t.Setenv(EnvProject, "envproj")
		t.Setenv(EnvHome, envHome)
		t.Setenv(EnvStorage, "bogus") // would be refused if it were read
		r, err := resolve(Options{Project: "optproj", Home: optHome, Storage: StorageLocal})
		require.NoError(t, err)
		require.Equal(t, "optproj", r.Project)
		require.Equal(t, optHome, r.Home)
		require.Equal(t, StorageLocal, r.Storage)
		require.Equal(t, filepath.Join(optHome, "projects", "optproj", "runs", "id"), r.runDir("id"))
	})

	t.Run("tilde expands to the user's home", func(t *testing.T) {
		userHome := clearGoodseedEnv(t)
		r, err := resolve(Options{Home: "~/x"})
		require.NoError(t, err)
		require.Equal(t, filepath.Join(userHome, "x"), r.Home)
		require.Equal(t, filepath.Join(userHome, "x", "projects", "default", "runs", "id"), r.runDir("id"))

		r, err = resolve(Options{Home: "~"})
		require.NoError(t, err)
		require.Equal(t, userHome, r.Home)

		t.Setenv(EnvHome, "~/from-env")
		r, err = resolve(Options{})
		require.NoError(t, err)
		require.Equal(t, filepath.Join(userHome, "from-env"), r.Home)
	})

	t.Run("tilde not followed by a slash is a plain name", func(t *testing.T) {
		clearGoodseedEnv(t)
		r, err := resolve(Options{Home: "~other"})
		require.NoError(t, err)
		want, err := filepath.Abs("~other")
		require.NoError(t, err)
		require.Equal(t, want, r.Home)
	})

	t.Run("relative home made absolute", func(t *testing.T) {
		clearGoodseedEnv(t)
		r, err := resolve(Options{Home: "rel/home"})
		require.NoError(t, err)
		require.True(t, filepath.IsAbs(r.Home), "home %q", r.Home)
		want, err := filepath.Abs("rel/home")
		require.NoError(t, err)
		require.Equal(t, want, r.Home)
	})

	t.Run("LogDir places runs directly in it", func(t *testing.T) {
		clearGoodseedEnv(t)
		logdir := t.TempDir()
		t.Setenv(EnvHome, t.TempDir())
		r, err := resolve(Options{LogDir: logdir, Home: t.TempDir(), Project: "ws/p"})
		require.NoError(t, err)
		require.Equal(t, filepath.Join(logdir, "id"), r.runDir("id"))
	})

	t.Run("LogDir with tilde", func(t *testing.T) {
		userHome := clearGoodseedEnv(t)
		r, err := resolve(Options{LogDir: "~/logs"})
		require.NoError(t, err)
		require.Equal(t, filepath.Join(userHome, "logs", "id"), r.runDir("id"))
	})

	t.Run("two-segment project", func(t *testing.T) {
		clearGoodseedEnv(t)
		home := t.TempDir()
		r, err := resolve(Options{Home: home, Project: "ws/p"})
		require.NoError(t, err)
		require.Equal(t, filepath.Join(home, "projects", "ws", "p", "runs", "id"), r.runDir("id"))
	})

	for _, mode := range []string{"bogus", "LOCAL", " local", "Cloud"} {
		t.Run("storage env "+mode, func(t *testing.T) {
			clearGoodseedEnv(t)
			t.Setenv(EnvStorage, mode)
			_, err := resolve(Options{Home: t.TempDir()})
			require.ErrorIs(t, err, ErrUnsupportedStorage)
		})
	}

	t.Run("storage cloud needs a server and a key", func(t *testing.T) {
		clearGoodseedEnv(t)
		_, err := resolve(Options{Home: t.TempDir(), Storage: "cloud"})
		require.ErrorIs(t, err, ErrNoRemote)
		require.ErrorContains(t, err, "GOODSEED_API_URL")
		_, err = resolve(Options{Home: t.TempDir(), Storage: "cloud", Remote: RemoteOptions{URL: "http://127.0.0.1:1"}})
		require.ErrorIs(t, err, ErrNoRemote)
		require.ErrorContains(t, err, "GOODSEED_API_KEY")
		_, err = resolve(Options{Home: t.TempDir(), Storage: "cloud", Remote: RemoteOptions{URL: "ftp://x", Key: "k"}})
		require.ErrorIs(t, err, ErrNoRemote)
		t.Setenv(EnvStorage, "cloud")
		t.Setenv("GOODSEED_API_URL", "http://127.0.0.1:1/")
		t.Setenv("GOODSEED_API_KEY", "k")
		r, err := resolve(Options{Home: t.TempDir()})
		require.NoError(t, err)
		require.Equal(t, StorageCloud, r.Storage)
		require.Equal(t, "http://127.0.0.1:1/", r.Remote.URL)
		require.Equal(t, 60*time.Second, r.Remote.CloseTimeout)
	})

	t.Run("storage env local", func(t *testing.T) {
		clearGoodseedEnv(t)
		t.Setenv(EnvStorage, "local")
		r, err := resolve(Options{Home: t.TempDir()})
		require.NoError(t, err)
		require.Equal(t, StorageLocal, r.Storage)
	})

	t.Run("invalid name", func(t *testing.T) {
		clearGoodseedEnv(t)
		_, err := resolve(Options{Home: t.TempDir(), Name: "evil\u202Eexe.txt"})
		require.ErrorIs(t, err, ErrInvalidName)
		_, err = resolve(Options{Home: t.TempDir(), Name: strings.Repeat("n", MaxNameChars+1)})
		require.ErrorIs(t, err, ErrInvalidName)
	})

	t.Run("invalid project option", func(t *testing.T) {
		clearGoodseedEnv(t)
		for _, p := range []string{"../x", "/abs", "a/b/c", `a\b`} {
			_, err := resolve(Options{Home: t.TempDir(), Project: p})
			require.ErrorIs(t, err, ErrInvalidProject, "project %q", p)
		}
	})

	t.Run("invalid project env", func(t *testing.T) {
		clearGoodseedEnv(t)
		t.Setenv(EnvProject, "../escape")
		_, err := resolve(Options{Home: t.TempDir()})
		require.ErrorIs(t, err, ErrInvalidProject)
	})

	t.Run("quiet discards the banner", func(t *testing.T) {
		clearGoodseedEnv(t)
		r, err := resolve(Options{Home: t.TempDir(), Quiet: true, stderr: new(strings.Builder)})
		require.NoError(t, err)
		require.Equal(t, io.Discard, r.stderr, "Quiet must replace the banner writer")
	})
}
