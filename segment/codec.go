package segment

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Compression picks how a Writer compresses payloads.
type Compression uint8

// Compression settings. The zero value is the default.
const (
	CompressionDefault Compression = iota // zstd level 3: good ratio, ~hundreds of MB/s
	CompressionFastest                    // zstd level 1
	CompressionBetter                     // zstd level ~7: smaller, slower
	CompressionNone                       // store payloads as written
	numCompressions
)

func (c Compression) String() string {
	switch c {
	case CompressionDefault:
		return "default"
	case CompressionFastest:
		return "fastest"
	case CompressionBetter:
		return "better"
	case CompressionNone:
		return "none"
	}
	return fmt.Sprintf("compression(%d)", uint8(c))
}

// minCompressBytes: payloads shorter than this never shrink under zstd (its
// frame header alone is several bytes), so the writer does not try.
const minCompressBytes = 32

// One encoder per level, shared by every writer in the process and built on
// first use: EncodeAll is safe for concurrent use and keeps its own pool of
// block encoders, so a coder per block or per writer would only waste memory.
var encoders [numCompressions]func() *zstd.Encoder

func init() {
	levels := [numCompressions]zstd.EncoderLevel{
		CompressionDefault: zstd.SpeedDefault,
		CompressionFastest: zstd.SpeedFastest,
		CompressionBetter:  zstd.SpeedBetterCompression,
	}
	for c, lvl := range levels {
		if Compression(c) == CompressionNone {
			continue
		}
		encoders[c] = sync.OnceValue(func() *zstd.Encoder {
			// Our own xxhash64 covers the stored bytes, so zstd's CRC would
			// only cost 4 bytes per block.
			e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(lvl), zstd.WithEncoderCRC(false))
			if err != nil {
				panic("segment: zstd encoder: " + err.Error())
			}
			return e
		})
	}
}

// decoder is shared by every reader. DecodeAll is safe for concurrent use.
// The memory cap and the cap limit together bound what a hostile frame can
// make it allocate: output may not grow past cap(dst), which readers size to
// the block's checked raw length.
var decoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(MaxRawBytes),
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		panic("segment: zstd decoder: " + err.Error())
	}
	return d
})

// decodePayload appends the raw payload of a verified stored payload to
// dst[:0]. A failure here means the stored bytes verified yet do not
// decode: a writer bug or a forged file, reported as corruption by callers.
func decodePayload(dst, stored []byte, codec Codec, rawLen int) ([]byte, error) {
	switch codec {
	case CodecNone:
		return append(dst[:0], stored...), nil
	case CodecZstd:
		if cap(dst) < rawLen {
			dst = make([]byte, 0, rawLen)
		}
		out, err := decoder().DecodeAll(stored, dst[:0:rawLen])
		if err != nil {
			return dst[:0], err
		}
		if len(out) != rawLen {
			return dst[:0], fmt.Errorf("decoded %d bytes, header says %d", len(out), rawLen)
		}
		if rawLen > 0 && &out[0] == &dst[:1][0] {
			// Hand back dst's full capacity, not the rawLen cap we decoded under,
			// so callers reusing the buffer keep reusing it.
			return dst[:rawLen], nil
		}
		return out, nil
	}
	return dst[:0], fmt.Errorf("unknown codec %d", codec)
}
