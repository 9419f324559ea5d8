package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	gsrun "github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/server"
)

// appURL is where the GoodSeed web UI lives; it is told the port with
// /local?port=<port>.
const appURL = "https://app.goodseed.ai"

// envAPIKeys holds API keys for --api-v1: entries KEY or KEY:ws1,ws2,
// separated by spaces or ';'.
const envAPIKeys = "GOODSEED_API_KEYS"

// notifyContext is signal.NotifyContext; tests replace it to stop the
// server without a signal.
var notifyContext = signal.NotifyContext

func init() {
	register(&command{
		name:     "serve",
		synopsis: "goodseed serve [DIR] [--port 8765] [--host 127.0.0.1] [-v] [--api-v1 (--api-key KEY[:ws1,ws2] | --api-keys-file F)]",
		summary: `Serve the runs under DIR to the GoodSeed web UI (the local read API) and print
the link that opens it. Runs written while the server runs show up, and live
runs are read while they are written. Stops on Ctrl-C (SIGINT) or SIGTERM.`,
		help: `DIR is the projects directory (as GoodSeed's Python CLI takes it), or the data
directory holding projects/; default $GOODSEED_HOME, else ~/.goodseed.

Flags:
  --port N              port to listen on (default 8765; 0 picks a free one)
  -v, --verbose         print where it listens and which directory it serves
  --host H              address to listen on (default 127.0.0.1). The local read API has no
                        authentication: anyone who can reach it can read every run.
  --api-v1              also serve the remote API (/api/v1) that GoodSeed's Python client
                        syncs to with GOODSEED_API_URL=http://HOST:PORT; needs API keys:
  --api-key KEY[:WS]    an accepted key, limited to the comma-separated workspaces WS
                        (default all); repeatable
  --api-keys-file F     keys from a file, one KEY[:WS] a line ('#' starts a comment)
  $` + envAPIKeys + `    keys from the environment, KEY[:WS] entries separated by spaces or ';'

Examples:
  goodseed                                   serve ~/.goodseed (or $GOODSEED_HOME) on 127.0.0.1:8765
  goodseed serve /data/goodseed --port 9000
  goodseed serve --api-v1 --api-key s3cret:acme,research
  GOODSEED_API_KEYS='k1 k2:acme' goodseed serve --api-v1 --host 0.0.0.0
`,
		run: runServe,
	})
}

// keyList collects repeated --api-key flags.
type keyList []string

func (k *keyList) String() string     { return strings.Join(*k, " ") }
func (k *keyList) Set(v string) error { *k = append(*k, v); return nil }

func runServe(e *env, args []string) error {
	fs := newFlags("serve")
	port := fs.Int("port", 8765, "")
	host := fs.String("host", "127.0.0.1", "")
	apiV1 := fs.Bool("api-v1", false, "")
	var keys keyList
	fs.Var(&keys, "api-key", "")
	keysFile := fs.String("api-keys-file", "", "")
	var verbose bool
	fs.BoolVar(&verbose, "v", false, "")
	fs.BoolVar(&verbose, "verbose", false, "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	where, err := e.servedDir(pos)
	if err != nil {
		return err
	}
	if *port < 0 || *port > 65535 {
		return usagef("--port %d is not a port (0 to 65535)", *port)
	}
	opts := server.Options{Home: where.home, Addr: net.JoinHostPort(*host, strconv.Itoa(*port)), APIv1: *apiV1}
	if where.home == "" {
		opts.Projects = where.projects
	}
	if opts.APIKeys, err = apiKeys(keys, *keysFile, e.getenv(envAPIKeys)); err != nil {
		return err
	}
	if !*apiV1 {
		if len(keys) > 0 || *keysFile != "" {
			return usagef("--api-key and --api-keys-file need --api-v1")
		}
		opts.APIKeys = nil // $GOODSEED_API_KEYS alone does not turn /api/v1 on
	} else if len(opts.APIKeys) == 0 {
		return usagef("--api-v1 needs at least one API key: --api-key, --api-keys-file or $%s", envAPIKeys)
	}
	if fi, err := os.Stat(where.projects); err != nil || !fi.IsDir() {
		fmt.Fprintf(e.stderr, "Note: %s does not exist yet; runs written there will show up.\n", where.projects)
	}

	s, err := server.New(opts)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := s.Listen()
	if err != nil {
		return err
	}
	addr := ln.Addr().(*net.TCPAddr)
	// Quiet as GoodSeed's Python CLI: the link alone, unless -v.
	if verbose {
		fmt.Fprintf(e.stdout, "Goodseed server running at http://%s\n", net.JoinHostPort(urlHost(*host), strconv.Itoa(addr.Port)))
		if where.home != "" {
			fmt.Fprintf(e.stdout, "Data directory: %s (projects: %s)\n", s.Home(), s.Projects())
		} else {
			fmt.Fprintf(e.stdout, "Projects directory: %s\n", s.Projects())
		}
	}
	if *apiV1 {
		fmt.Fprintf(e.stdout, "Remote API (/api/v1) on, %d API key(s)\n", len(opts.APIKeys))
	}
	if !isLoopback(*host) {
		fmt.Fprintf(e.stderr, "Warning: listening on %s: the local read API (/api) has no authentication; anyone who can reach it can read every run and trash runs.\n", *host)
	}
	fmt.Fprintf(e.stdout, "View your runs at %s/local?port=%d\n", appURL, addr.Port)
	err = s.Serve(ctx, ln)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "Server stopped.")
	return nil
}

// urlHost is host as it goes in a URL: a wildcard becomes 127.0.0.1, where
// this machine reaches it.
func urlHost(host string) string {
	switch host {
	case "", "0.0.0.0", "::":
		return "127.0.0.1"
	}
	return host
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// apiKeys gathers the keys of the flags, the keys file and the environment
// into key → workspaces ("*" for all).
func apiKeys(flags []string, file, envVal string) (map[string][]string, error) {
	out := map[string][]string{}
	add := func(entry, from string) error {
		key, wss, hasWS := strings.Cut(entry, ":")
		if key == "" {
			return usagef("%s: an API key is empty in %q", from, entry)
		}
		var list []string
		if hasWS {
			for ws := range strings.SplitSeq(wss, ",") {
				ws = strings.TrimSpace(ws)
				if ws == "" {
					continue
				}
				if ws != "*" && (strings.Contains(ws, "/") || gsrun.ValidateProject(ws) != nil) {
					return usagef("%s: %q is not a workspace name", from, ws)
				}
				list = append(list, ws)
			}
			if len(list) == 0 {
				return usagef("%s: key %q names no workspace after ':'", from, key)
			}
		} else {
			list = []string{"*"}
		}
		for _, ws := range list {
			if !slices.Contains(out[key], ws) {
				out[key] = append(out[key], ws)
			}
		}
		return nil
	}
	for _, f := range flags {
		if err := add(strings.TrimSpace(f), "--api-key"); err != nil {
			return nil, err
		}
	}
	if file != "" {
		fh, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--api-keys-file: %w", err)
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		for n := 1; sc.Scan(); n++ {
			line, _, _ := strings.Cut(sc.Text(), "#")
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			if err := add(line, fmt.Sprintf("%s line %d", file, n)); err != nil {
				return nil, err
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--api-keys-file: %w", err)
		}
	}
	for _, entry := range strings.FieldsFunc(envVal, func(r rune) bool { return r == ';' || r == ' ' || r == '\t' || r == '\n' }) {
		if err := add(entry, "$"+envAPIKeys); err != nil {
			return nil, err
		}
	}
	return out, nil
}
