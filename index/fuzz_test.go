package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Set GOODSEED_UPDATE_GOLDEN=1 to rewrite testdata/index-v1.golden and the
// fuzz seed corpus from the current encoder. Never do it to make a failing
// format test pass: a changed encoding needs a new version.
var updateGolden = os.Getenv("GOODSEED_UPDATE_GOLDEN") == "1"

const goldenV1 = "testdata/index-v1.golden"

// TestGoldenV1 pins format 1.0: the fixture must decode to smallIndex, and
// smallIndex must encode to the fixture byte for byte.
func TestGoldenV1(t *testing.T) {
	b := mustMarshal(t, smallIndex())
	if updateGolden {
		if err := os.WriteFile(goldenV1, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenV1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(want)
	if err != nil {
		t.Fatalf("fixture refused: %v", err)
	}
	if d := equalIndex(smallIndex(), got); d != "" {
		t.Fatalf("fixture decodes differently: %s", d)
	}
	if string(b) != string(want) {
		t.Fatal("encoder output differs from the 1.0 fixture: the format changed")
	}
}

func TestWriteFuzzCorpus(t *testing.T) {
	if !updateGolden {
		t.Skip("set GOODSEED_UPDATE_GOLDEN=1 to rewrite the fuzz seed corpus")
	}
	seeds := map[string][]byte{
		"valid-small":  mustMarshal(t, smallIndex()),
		"valid-empty":  mustMarshal(t, New("")),
		"valid-random": mustMarshal(t, randomIndex(77, 3, 40, 12, 30)),
		"header-only":  build(1),
		"major-2":      build(2, sect(tagRun, 'x')),
		"short":        []byte("GSEEDIDX"),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzUnmarshal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzUnmarshal feeds arbitrary bytes, as they are and resealed with a
// correct length and checksum (so mutations reach the section parsers):
// Unmarshal must never panic, must fail only with ErrCorrupt or
// ErrUnknownVersion, and what it accepts must survive a round trip.
func FuzzUnmarshal(f *testing.F) {
	f.Add(mustMarshal(f, smallIndex()))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzOne(t, b)
		if len(b) >= minFileSizeBytes {
			fuzzOne(t, reseal(append([]byte(nil), b...)))
		}
	})
}

func fuzzOne(t *testing.T, b []byte) {
	ix, err := Unmarshal(b)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		return
	}
	again, err := ix.MarshalBinary()
	if err != nil {
		t.Fatalf("accepted index does not marshal: %v", err)
	}
	ix2, err := Unmarshal(again)
	if err != nil {
		t.Fatalf("re-marshalled index refused: %v", err)
	}
	if d := equalIndex(ix, ix2); d != "" {
		t.Fatalf("round trip differs: %s", d)
	}
}
