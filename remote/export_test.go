package remote

import (
	"os"
	"path/filepath"
)

// RewriteCursorServer moves the cursor file at path to serverURL, as if
// that server had acknowledged what it says: a server that lost data.
func RewriteCursorServer(path, serverURL string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	c, err := decodeCursor(b)
	if err != nil {
		return err
	}
	c.Server = serverURL
	if err := os.Remove(path); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(filepath.Dir(path), cursorFileName(serverURL, c.Writer)), encodeCursor(c), 0o644)
}
