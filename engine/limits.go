package engine

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Published limits. Each is well above what hosted trackers allow; going
// past one is an ErrLimit error for that call alone, never a silent drop and
// never a stop of the rest of the logging.
const (
	// MaxFields is the number of distinct paths one run may hold.
	MaxFields = 1 << 24
	// MaxPathBytes is the longest field path, in bytes of UTF-8.
	MaxPathBytes = 64 << 10
	// MaxStrictPathBytes is the longest path ValidatePath (the native
	// API's rule) allows.
	MaxStrictPathBytes = 1024
	// MaxStringBytes is the longest string point or string config value:
	// anything one 16 MiB request of GoodSeed's client can carry.
	MaxStringBytes = 16 << 20
	// MaxPointsPerSeries is the most points one series may be given
	// (overwrites count).
	MaxPointsPerSeries = 1 << 32
	// MaxSetItems is the most strings one string-set operation may carry.
	MaxSetItems = 1 << 16
)

// ValidateStoredPath checks a path against what the engine can store: 1 to
// MaxPathBytes bytes of valid UTF-8. Anything GoodSeed's client accepts
// passes ("a//b", control characters, long paths): a server stores it as
// sent.
func ValidateStoredPath(path string) error { return validatePathText(path, MaxPathBytes) }

// validatePathText: 1 to limit bytes of valid UTF-8.
func validatePathText(path string, limit int) error {
	switch {
	case path == "":
		return fmt.Errorf("%w: empty path", ErrInvalidPath)
	case len(path) > limit:
		return fmt.Errorf("%w: path is %d bytes, limit %d: %w", ErrInvalidPath, len(path), limit, ErrLimit)
	case !utf8.ValidString(path):
		return fmt.Errorf("%w: path %+q is not valid UTF-8", ErrInvalidPath, clip(path))
	}
	return nil
}

// ValidatePath checks a field path against the native API's rules
// (Options.StrictPaths): 1 to MaxStrictPathBytes bytes of valid UTF-8, no
// control characters, no leading or trailing '/', no empty segment
// ("a//b").
func ValidatePath(path string) error {
	if err := validatePathText(path, MaxStrictPathBytes); err != nil {
		return err
	}
	switch {
	case path[0] == '/' || path[len(path)-1] == '/':
		return fmt.Errorf("%w: path %q starts or ends with '/'", ErrInvalidPath, path)
	case strings.Contains(path, "//"):
		return fmt.Errorf("%w: path %q has an empty segment", ErrInvalidPath, path)
	}
	for _, r := range path {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return fmt.Errorf("%w: path %q has control character %U", ErrInvalidPath, path, r)
		}
	}
	return nil
}

func validateString(what, s string) error {
	if len(s) > MaxStringBytes {
		return fmt.Errorf("%w: %s is %d bytes, limit %d: %w", ErrInvalidValue, what, len(s), MaxStringBytes, ErrLimit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidValue, what)
	}
	return nil
}

func validateValue(v Value) error {
	switch v.Type {
	case TypeNull, TypeBool, TypeFloat:
		return nil
	case TypeTime:
		if off := v.TimeOffset(); off <= -86400 || off >= 86400 || (v.Naive && off != 0) {
			return fmt.Errorf("%w: time offset %ds (naive %v) is not one a datetime has", ErrInvalidValue, off, v.Naive)
		}
		return nil
	case TypeInt:
		if v.Str != "" {
			if w, err := BigInt(v.Str); err != nil || w.Str == "" {
				return fmt.Errorf("%w: int text %+q is not a decimal beyond int64 (use Int)", ErrInvalidValue, clip(v.Str))
			}
		}
		return nil
	case TypeString:
		return validateString("config string", v.Str)
	case TypeStringSet:
		return validateItems(v.Set)
	}
	return fmt.Errorf("%w: unknown value type %d", ErrInvalidValue, uint8(v.Type))
}

func validateItems(items []string) error {
	if len(items) > MaxSetItems {
		return fmt.Errorf("%w: %d set items, limit %d: %w", ErrInvalidValue, len(items), MaxSetItems, ErrLimit)
	}
	for _, it := range items {
		if err := validateString("set item", it); err != nil {
			return err
		}
	}
	return nil
}
