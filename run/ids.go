package run

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode/utf8"
)

// Published limits on the names a run is known by.
const (
	// MaxRunIDChars is the longest run id.
	MaxRunIDChars = 128
	// MaxNameChars is the longest run name, in characters.
	MaxNameChars = 200
	// MaxProjectSegmentChars is the longest segment of a project name.
	MaxProjectSegmentChars = 128
	// maxSuffix is the highest collision suffix tried for a generated id.
	maxSuffix = 999
)

// ValidateRunID checks a run id: 1 to MaxRunIDChars ASCII letters, digits,
// '_' and '-', starting and ending with a letter or digit. The id names a
// directory, so nothing else (no '/', '.', or spaces) is allowed.
func ValidateRunID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidRunID)
	case len(id) > MaxRunIDChars:
		return fmt.Errorf("%w: %d characters, at most %d", ErrInvalidRunID, len(id), MaxRunIDChars)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		edge := i == 0 || i == len(id)-1
		if isAlnum(c) || (!edge && (c == '_' || c == '-')) {
			continue
		}
		return fmt.Errorf("%w: %q: use letters, digits, '_' and '-', starting and ending with a letter or digit", ErrInvalidRunID, id)
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// ValidateName checks a run's display name: valid UTF-8, at most
// MaxNameChars characters, and none of the characters that hide or reorder
// text on a screen: controls (U+0000–U+001F, U+007F–U+009F), bidi overrides
// and isolates (U+202A–U+202E, U+2066–U+2069) and zero-width characters
// (U+200B–U+200F, U+FEFF). An empty name is allowed.
func ValidateName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidName)
	}
	if n := utf8.RuneCountInString(name); n > MaxNameChars {
		return fmt.Errorf("%w: %d characters, at most %d", ErrInvalidName, n, MaxNameChars)
	}
	for i, r := range name {
		if forbiddenInName(r) {
			return fmt.Errorf("%w: character U+%04X at byte %d is a control, bidi or zero-width character", ErrInvalidName, r, i)
		}
	}
	return nil
}

func forbiddenInName(r rune) bool {
	return r <= 0x1F || (0x7F <= r && r <= 0x9F) ||
		(0x202A <= r && r <= 0x202E) || (0x2066 <= r && r <= 0x2069) ||
		(0x200B <= r && r <= 0x200F) || r == 0xFEFF
}

// ValidateProject checks a project name: one segment, or two as
// "workspace/project", each 1 to MaxProjectSegmentChars ASCII letters,
// digits, '_', '-' and '.', not starting with '.'. The segments become
// directories under <home>/projects, so absolute paths, "..", empty
// segments and backslashes are refused: nothing may land outside the home.
func ValidateProject(project string) error {
	if project == "" {
		return fmt.Errorf("%w: empty", ErrInvalidProject)
	}
	segs := strings.Split(project, "/")
	if len(segs) > 2 {
		return fmt.Errorf("%w: %q has %d segments; use \"project\" or \"workspace/project\"", ErrInvalidProject, project, len(segs))
	}
	for _, s := range segs {
		if err := validateProjectSegment(s); err != nil {
			return fmt.Errorf("%w: %q: %s", ErrInvalidProject, project, err)
		}
	}
	return nil
}

func validateProjectSegment(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty segment (a leading, trailing or doubled '/')")
	case len(s) > MaxProjectSegmentChars:
		return fmt.Errorf("segment of %d characters, at most %d", len(s), MaxProjectSegmentChars)
	case s[0] == '.':
		return fmt.Errorf("segment %q starts with '.'", s)
	}
	// Quote the rune, never a byte of it: "ü" is 'ü', not 'Ã'.
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return fmt.Errorf("segment is not valid UTF-8 at byte %d", i)
		case r >= utf8.RuneSelf || !isAlnum(byte(r)) && r != '_' && r != '-' && r != '.':
			return fmt.Errorf("character %q (%U) is not allowed; use letters, digits, '_', '-' and '.'", r, r)
		}
	}
	return nil
}

// generateID returns a readable id such as "bold-falcon". A variable so
// tests can force collisions.
var generateID = func() string {
	return adjectives[rand.IntN(len(adjectives))] + "-" + animals[rand.IntN(len(animals))]
}

// candidateID returns the n-th id to try for base: base itself, then
// base-2, base-3, ... up to base-maxSuffix.
func candidateID(base string, n int) string {
	if n <= 1 {
		return base
	}
	return fmt.Sprintf("%s-%d", base, n)
}

var adjectives = [...]string{
	"agile", "amber", "ancient", "autumn", "bold", "brave", "bright", "brisk",
	"calm", "clever", "cosmic", "crimson", "curious", "daring", "dawn", "eager",
	"early", "fierce", "frosty", "gentle", "golden", "grand", "happy", "hidden",
	"humble", "icy", "jolly", "keen", "kind", "lively", "lucky", "lunar",
	"mellow", "misty", "noble", "patient", "polar", "proud", "quick", "quiet",
	"rapid", "silent", "silver", "solar", "steady", "swift", "tidy", "vivid",
	"wild", "wise",
}

var animals = [...]string{
	"albatross", "badger", "beaver", "bison", "cheetah", "condor", "coyote", "crane",
	"dolphin", "eagle", "falcon", "ferret", "finch", "fox", "gazelle", "gecko",
	"heron", "ibex", "jackal", "jaguar", "koala", "lemur", "leopard", "lynx",
	"marmot", "meerkat", "moose", "narwhal", "ocelot", "orca", "osprey", "otter",
	"owl", "panda", "panther", "pelican", "puffin", "quail", "raven", "salmon",
	"seal", "sparrow", "stork", "tiger", "toucan", "walrus", "weasel", "whale",
	"wolf", "yak",
}
