// Command deploy stages an example function for Cloud Functions and prints
// the command that deploys it; with -run it runs that command. Run it from
// examples/:
//
//	go run ./deploy hello
//	go run ./deploy -run -dt-url=https://<env-id>.live.dynatrace.com -dt-token-secret=<secret-name> pubsub
//
// gcftrace has no published release yet, so a copy of a function cannot
// fetch it. deploy writes the function into a module of its own: its source,
// a go.mod whose replace points at a copy of this checkout's library under
// third_party/gcftrace, and vendor/ (go mod vendor), from which the Cloud
// Functions Go buildpack builds without fetching anything. It checks that the
// staged module builds with -mod=vendor and GOPROXY=off before it prints.
//
// Once gcftrace is released, go get in a copy of the function is enough.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// A function is one deployable example under examples/.
type function struct {
	name       string // of the deployed function
	entryPoint string // the name its init registers with the Functions Framework
	trigger    string // the gcloud flag that says what invokes it
}

// functions are the deployable examples, by directory.
var functions = map[string]function{
	"hello":  {name: "hello", entryPoint: "hello", trigger: "--trigger-http"},
	"pubsub": {name: "receive", entryPoint: "receive", trigger: "--trigger-topic=orders"},
}

// params are the deployment's settings; the defaults are the placeholders
// the READMEs show.
type params struct {
	region      string
	dtURL       string // DT_CONNECTION_BASE_URL
	tokenSecret string // Secret Manager secret holding DT_CONNECTION_AUTH_TOKEN
}

func defaultParams() params {
	return params{
		region:      "europe-west3",
		dtURL:       "https://<env-id>.live.dynatrace.com",
		tokenSecret: "<secret-name>",
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	p := defaultParams()
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "stage into this `directory` (created; must be empty); default: a new temporary directory")
	fs.StringVar(&p.region, "region", p.region, "Cloud Functions `region`")
	fs.StringVar(&p.dtURL, "dt-url", p.dtURL, "Dynatrace environment `URL` (DT_CONNECTION_BASE_URL)")
	fs.StringVar(&p.tokenSecret, "dt-token-secret", p.tokenSecret, "Secret Manager `secret` holding the API token (DT_CONNECTION_AUTH_TOKEN)")
	runIt := fs.Bool("run", false, "run the gcloud command instead of printing it")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./deploy [flags] %s\n\n", strings.Join(slices.Sorted(maps.Keys(functions)), "|"))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	example := filepath.Base(filepath.Clean(fs.Arg(0)))
	fn, ok := functions[example]
	if !ok {
		fmt.Fprintf(stderr, "deploy: no deployable example %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *runIt && strings.ContainsAny(p.region+p.dtURL+p.tokenSecret, "<>") {
		fmt.Fprintln(stderr, "deploy: -run needs -dt-url and -dt-token-secret")
		return 2
	}

	examples, err := examplesDir(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "deploy: %v\n", err)
		return 1
	}
	temporary := *dir == ""
	if temporary {
		*dir, err = os.MkdirTemp("", "gcftrace-"+example+"-")
	} else {
		*dir, err = filepath.Abs(*dir)
	}
	if err != nil {
		fmt.Fprintf(stderr, "deploy: %v\n", err)
		return 1
	}
	s, err := stage(ctx, examples, example, *dir, nil)
	if err != nil {
		fmt.Fprintf(stderr, "deploy: %v\n", err)
		if temporary {
			_ = os.RemoveAll(*dir)
		}
		return 1
	}
	fmt.Fprintf(stderr, "staged %s in %s (builds with -mod=vendor, offline)\n", example, s.dir)

	gcloudArgs := deployArgs(fn, s.dir, s.runtime, p)
	if !*runIt {
		fmt.Fprintln(stdout, formatCommand(gcloudArgs))
		return 0
	}
	cmd := exec.CommandContext(ctx, "gcloud", gcloudArgs...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(stderr, "deploy: gcloud: %v\n", err)
		if exit, ok := errors.AsType[*exec.ExitError](err); ok && exit.ExitCode() > 0 {
			return exit.ExitCode()
		}
		return 1
	}
	return 0
}

// deployArgs are the arguments of gcloud that deploy fn from source.
func deployArgs(fn function, source, runtime string, p params) []string {
	return []string{
		"functions", "deploy", fn.name,
		"--gen2",
		"--runtime=" + runtime,
		"--region=" + p.region,
		"--source=" + source,
		"--entry-point=" + fn.entryPoint,
		fn.trigger,
		"--set-env-vars=DT_CONNECTION_BASE_URL=" + p.dtURL,
		"--set-secrets=DT_CONNECTION_AUTH_TOKEN=" + p.tokenSecret + ":latest",
	}
}

// formatCommand renders gcloud args as the READMEs show them: one flag a
// line. Arguments a shell would split or expand are single-quoted; <…>
// placeholders are left bare, to be replaced.
func formatCommand(args []string) string {
	var b strings.Builder
	b.WriteString("gcloud")
	for i, a := range args {
		if i >= 3 {
			b.WriteString(" \\\n ")
		}
		b.WriteString(" " + shellQuote(a))
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`;&|*?!(){}[]#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
