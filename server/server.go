package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Defaults.
const (
	DefaultAddr = "127.0.0.1:8765"
	// MaxBodyBytes is the largest request body accepted, after gzip
	// expansion too (the Python client never sends more than 16 MiB).
	MaxBodyBytes = 16 << 20
)

// Options configure a Server.
type Options struct {
	// Home is the data directory; runs live in <Home>/projects/<project>/runs/<id>.
	Home string
	// Projects, when set, is the projects directory itself (as GoodSeed's
	// Python CLI takes it), whatever its name; Home is then not used.
	// Nothing outside it is read or written.
	Projects string
	// Addr is where ListenAndServe listens; default 127.0.0.1:8765.
	Addr string
	// APIv1 enables Part B (/api/v1). Off, /api/v1 answers 404.
	APIv1 bool
	// APIKeys maps each accepted API key to the workspaces it may use; a
	// workspace "*" grants all. Required when APIv1 is on.
	APIKeys map[string][]string
	// DefaultWorkspace is what GET /api/v1/auth/me names; default the first
	// workspace of the caller's key, else "default".
	DefaultWorkspace string
}

// Server serves one data directory.
type Server struct {
	opts Options
	home string // absolute, symlinks resolved: nothing outside is touched
	// projects is <home>/projects, or home itself (Options.Projects).
	projects string
	mux      *http.ServeMux

	closeMu  sync.Mutex
	closers  []func() error // run at Close: Part B's open writers, caches
	httpSrvs []*http.Server
}

// routeSetters register the handlers of each part. Part A's file and Part
// B's file each add theirs from init, so the two parts stay in their own
// files.
var routeSetters []func(s *Server, mux *http.ServeMux) error

// New prepares a server for opts.Home (or opts.Projects).
func New(opts Options) (*Server, error) {
	root := opts.Home
	if opts.Projects != "" {
		root = opts.Projects
	}
	if root == "" {
		return nil, errors.New("server: Options.Home is empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("server: home %s: %w", root, err)
	}
	if res, err := filepath.EvalSymlinks(abs); err == nil {
		abs = res
	}
	projects := filepath.Join(abs, "projects")
	if opts.Projects != "" {
		projects = abs
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.APIv1 && len(opts.APIKeys) == 0 {
		return nil, errors.New("server: /api/v1 needs at least one API key")
	}
	s := &Server{opts: opts, home: abs, projects: projects, mux: http.NewServeMux()}
	for _, set := range routeSetters {
		if err := set(s, s.mux); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Home returns the data directory served (the projects directory when
// Options.Projects named it).
func (s *Server) Home() string { return s.home }

// Projects returns the projects directory served.
func (s *Server) Projects() string { return s.projects }

// Handler returns the server's HTTP handler (for httptest and embedding).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// serveHTTP refuses paths with dot segments or empty segments, and paths
// that do not start with '/' (the request target "*", or an absolute URL
// without a path), before the mux sees them: the mux would answer them
// with a redirect or a bare 400, without the API's error body or CORS
// headers.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// The path as sent: encoded dots (%2e) are the handlers' to refuse.
	if p := r.URL.EscapedPath(); !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || hasDotSegment(p) {
		detail := fmt.Sprintf("path %q does not start with '/' or has an empty, '.' or '..' segment", p)
		if strings.HasPrefix(p, "/api/v1/") {
			writeJSON(w, http.StatusBadRequest, map[string]string{
				"error_code": "Request.Invalid", "title": "Invalid path", "detail": detail})
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type")
		if r.Method == http.MethodOptions { // Part A: OPTIONS on any path is 204
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": detail})
		return
	}
	s.mux.ServeHTTP(w, r)
}

func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// onClose registers cleanup to run at Close.
func (s *Server) onClose(f func() error) {
	s.closeMu.Lock()
	s.closers = append(s.closers, f)
	s.closeMu.Unlock()
}

// Listen binds opts.Addr; Serve then serves on it. Split so a caller can
// print the real address (port 0) before serving.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen on %s: %w", s.opts.Addr, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
	}
	s.closeMu.Lock()
	s.httpSrvs = append(s.httpSrvs, hs)
	s.closeMu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	}
}

// Close releases what the server holds open (Part B's run writers) so the
// runs are closed cleanly.
func (s *Server) Close() error {
	s.closeMu.Lock()
	closers := s.closers
	s.closers = nil
	s.closeMu.Unlock()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		errs = append(errs, closers[i]())
	}
	return errors.Join(errs...)
}

// writeJSON writes v with status. Encoding errors after the header are
// unrecoverable and dropped.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
