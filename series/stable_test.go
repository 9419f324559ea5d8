package series

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestEncodingIsStable pins the bytes the encoders choose for the
// benchmark mixes (realistic and adversarial, every chunk): a change that
// is meant to be only faster must leave them exactly as they were. A change
// of the encoders' choices is a format decision: update the hash with it,
// and the size figures in the README.
func TestEncodingIsStable(t *testing.T) {
	const want = "e3682371f45ec6d71f86a34e269de73924dbdcdddc1e3d5cbebde509ef9d641a"
	h := sha256.New()
	for _, m := range benchMixes() {
		for _, c := range chunksOf(m.series) {
			h.Write(AppendMetricChunk(nil, c))
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("the encoders' output changed: sha256 %s, want %s", got, want)
	}
}
