package main

func init() {
	register(&command{
		name:     "upload",
		synopsis: "goodseed upload -p PROJECT [-r RUN_ID] [--api-key KEY]",
		summary: `GoodSeed's Python CLI spelling of sync: ship the runs of PROJECT (or the one
run RUN_ID) to the server at $GOODSEED_API_URL, incrementally: a second upload
sends nothing new. 'goodseed sync' has the other ways to pick runs and --follow.`,
		help: `Flags:
  -p, --project P   the project (required)
  -r, --run-id ID   only this run
      --api-key K   the API key (default $GOODSEED_API_KEY)
      --home DIR    the data directory (default $GOODSEED_HOME, else ~/.goodseed)

Examples:
  GOODSEED_API_URL=http://tracker:8765 goodseed upload -p acme/research
  goodseed upload -p acme/research -r bright-falcon-42
`,
		run: runUpload,
	})
}

func runUpload(e *env, args []string) error {
	fs := newFlags("upload")
	var project, runID, key, home string
	fs.StringVar(&project, "p", "", "")
	fs.StringVar(&project, "project", "", "")
	fs.StringVar(&runID, "r", "", "")
	fs.StringVar(&runID, "run-id", "", "")
	fs.StringVar(&key, "api-key", e.getenv("GOODSEED_API_KEY"), "")
	fs.StringVar(&home, "home", "", "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("no positional arguments (name a run with -r)")
	case project == "":
		return usagef("-p PROJECT is required")
	}
	syncArgs := []string{"-p", project, "--key", key, "-q"}
	if home != "" {
		syncArgs = append(syncArgs, "--home", home)
	}
	if runID != "" {
		syncArgs = append(syncArgs, runID)
	}
	return runSync(e, syncArgs)
}
