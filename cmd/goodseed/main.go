// Command goodseed is GoodSeed Go's user CLI.
//
//	goodseed demo    log a realistic training run, then show where it is and what it holds
//
// The serve and list commands arrive with the HTTP server.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "demo":
		err = runDemo(os.Args[2:])
	case "-h", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "goodseed: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "goodseed:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: goodseed <command> [flags]

commands:
  demo    log a realistic training run into $GOODSEED_HOME (default ~/.goodseed),
          then print where it is and what it holds
`)
}
