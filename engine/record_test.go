package engine

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func sampleRecords() []byte {
	var b []byte
	b = appendFieldDef(b, 0, KindMetric, "train/loss")
	b = appendFieldDef(b, 1, KindConfig, "sys/tags")
	b = appendFieldDef(b, 2, KindString, "monitoring/stdout")
	b = appendChunkRecord(b, RecMetricChunk, 0, []byte{1, 2, 3})
	b = appendChunkRecord(b, RecStringChunk, 2, nil)
	b = appendConfig(b, 1, 1700000000000, StringSet("a", "b"))
	b = appendConfig(b, 1, -5, Float(math.NaN()))
	b = appendConfig(b, 1, 0, Time(time.Unix(1, 5)))
	b = appendConfig(b, 1, 0, Int(math.MinInt64))
	b = appendConfig(b, 1, 0, Value{Type: TypeInt, Str: "-1180591620717411303424"})
	b = appendConfig(b, 1, 0, Bool(true))
	b = appendConfig(b, 1, 0, Null())
	b = appendConfig(b, 1, 0, String("x"))
	b = appendSetOp(b, 1, 7, SetRemove, []string{"a", ""})
	b = appendMeta(b, 9, "status", "running")
	b = appendConfig(b, 1, 0, ZonedTime(time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("", -(5*3600+30*60+15)))))
	b = appendConfig(b, 1, 0, NaiveTime(time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", 7200))))
	return b
}

func TestRecordRoundTrip(t *testing.T) {
	b := sampleRecords()
	var got []Record
	for len(b) > 0 {
		r, rest, err := DecodeRecord(b)
		require.NoError(t, err)
		got = append(got, r)
		b = rest
	}
	require.Len(t, got, 17)
	require.Equal(t, Record{Kind: RecFieldDef, Field: 2, FieldKind: KindString, Path: "monitoring/stdout"}, got[2])
	require.Equal(t, []byte{1, 2, 3}, got[3].Chunk)
	require.True(t, StringSet("b", "a").Equal(got[5].Value))
	require.True(t, math.IsNaN(got[6].Value.Float))
	require.Equal(t, int64(-5), got[6].TimeMs)
	require.True(t, got[7].Value.Time.Equal(time.Unix(1, 5)))
	require.Equal(t, int64(math.MinInt64), got[8].Value.Int)
	require.Equal(t, Value{Type: TypeInt, Str: "-1180591620717411303424"}, got[9].Value, "an int past int64, exactly")
	require.Equal(t, []string{"a", ""}, got[13].Items)
	require.Equal(t, SetRemove, got[13].SetOp)
	require.Equal(t, "running", got[14].Val)
	zoned := got[15].Value
	require.Equal(t, -(5*3600 + 30*60 + 15), zoned.TimeOffset(), "the offset, kept")
	require.Equal(t, "2024-01-02T03:04:05.000000006-05:30:15", zoned.String())
	require.True(t, zoned.Equal(ZonedTime(time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("x", -(5*3600+30*60+15))))))
	require.False(t, zoned.Equal(Time(zoned.Time)), "the same instant in UTC is another value")
	naive := got[16].Value
	require.True(t, naive.Naive)
	require.Equal(t, "2024-01-02T03:04:05", naive.String(), "the wall clock, no offset")
}

func TestRecordTruncationAndGarbage(t *testing.T) {
	b := sampleRecords()
	// Every strict prefix that cuts a record must fail cleanly, never panic.
	for cut := 0; cut < len(b); cut++ {
		p := b[:cut]
		for len(p) > 0 {
			_, rest, err := DecodeRecord(p)
			if err != nil {
				require.ErrorIs(t, err, ErrCorrupt)
				break
			}
			p = rest
		}
	}
	for _, bad := range [][]byte{
		{0, 0},                        // kind 0
		{99, 0},                       // unknown kind
		{byte(RecFieldDef), 2, 0, 9},  // field kind 9
		{byte(RecConfig), 3, 0, 0, 7}, // value type 7
		{byte(RecSetOp), 4, 0, 0, 3, 0},
		{byte(RecConfig), 4, 0, 0, 1, 2}, // bool 2
		{byte(RecFieldDef), 200, 1},      // length past the end
	} {
		_, _, err := DecodeRecord(bad)
		require.Truef(t, errors.Is(err, ErrCorrupt), "%v: %v", bad, err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	b := sampleRecords()
	for len(b) > 0 {
		_, rest, _ := DecodeRecord(b)
		f.Add(b[:len(b)-len(rest)])
		b = rest
	}
	f.Add(sampleRecords())
	f.Fuzz(func(t *testing.T, data []byte) {
		for p := data; len(p) > 0; {
			r, rest, err := DecodeRecord(p)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v does not wrap ErrCorrupt", err)
				}
				return
			}
			if len(rest) >= len(p) {
				t.Fatal("no progress")
			}
			// What decodes re-encodes to a record that decodes the same.
			var again []byte
			switch r.Kind {
			case RecFieldDef:
				again = appendFieldDef(nil, r.Field, r.FieldKind, r.Path)
			case RecMeta:
				again = appendMeta(nil, r.TimeMs, r.Key, r.Val)
			case RecSetOp:
				again = appendSetOp(nil, r.Field, r.TimeMs, r.SetOp, r.Items)
			}
			if again != nil {
				r2, rest2, err := DecodeRecord(again)
				if err != nil || len(rest2) != 0 || r2.Path != r.Path || r2.Key != r.Key || r2.Val != r.Val ||
					r2.Field != r.Field || r2.TimeMs != r.TimeMs || len(r2.Items) != len(r.Items) {
					t.Fatalf("re-encoded %+v decodes as %+v (%v)", r, r2, err)
				}
			}
			p = rest
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzDecodeRecord when
// GOODSEED_WRITE_FUZZ_CORPUS is set; CI replays the committed files.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("GOODSEED_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set GOODSEED_WRITE_FUZZ_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeRecord")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	b := sampleRecords()
	for i := 0; len(b) > 0; i++ {
		_, rest, err := DecodeRecord(b)
		require.NoError(t, err)
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b[:len(b)-len(rest)])
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644))
		b = rest
	}
}
