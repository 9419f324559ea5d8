//go:build unix

package index

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// TestSymlinkNotFollowed plants a symlink to a file outside the run
// directory (present with known bytes, or absent) at the index and at the
// exact temp name WriteFile will create: the temp file is refused, the
// index is replaced rather than written through, and ReadFile refuses to
// read through a link. The target is never touched.
func TestSymlinkNotFollowed(t *testing.T) {
	const before = "outside, not to be touched"
	for _, tc := range []struct {
		name     string
		at       string // where the link is planted
		dangling bool
	}{
		{"temp", FileName + tempInfix + "planted", false},
		{"temp dangling", FileName + tempInfix + "planted", true},
		{"index", FileName, false},
		{"index dangling", FileName, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := tempSuffix
			tempSuffix = func() string { return "planted" }
			t.Cleanup(func() { tempSuffix = old })

			target := filepath.Join(t.TempDir(), "target")
			if !tc.dangling {
				if err := os.WriteFile(target, []byte(before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			dir := t.TempDir()
			link := filepath.Join(dir, tc.at)
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			if tc.at == FileName {
				if _, err := ReadFile(vfs.Default, dir); !errors.Is(err, vfs.ErrSymlink) {
					t.Errorf("ReadFile of a linked index: %v, want ErrSymlink", err)
				}
			}
			err := WriteFile(vfs.Default, dir, smallIndex())
			if tc.at == FileName {
				if err != nil {
					t.Fatalf("WriteFile over a linked index: %v", err)
				}
				if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
					t.Fatalf("index after WriteFile: %v %v, want the link replaced by a file", fi, err)
				}
				if _, err := ReadFile(vfs.Default, dir); err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, vfs.ErrSymlink) {
				t.Errorf("WriteFile onto a linked temp name: %v, want ErrSymlink", err)
			}
			b, rerr := os.ReadFile(target)
			switch {
			case tc.dangling && !errors.Is(rerr, fs.ErrNotExist):
				t.Errorf("the dangling link's target was created: %q %v", b, rerr)
			case !tc.dangling && string(b) != before:
				t.Errorf("the link's target now %q (%v)", b, rerr)
			}
		})
	}
}
