// Command soak runs the fault soak of package soak, the full version by
// default (make soak), and prints its report as Markdown. It exits 1 when a
// check failed and 2 when the soak could not run.
//
// Everything the process writes to its standard output and error while the
// soak runs (functions-framework-go's own lines among them) is captured and
// searched for the soak's token too; the report goes to standard output
// afterwards.
//
//	go run ./cmd/soak                 # the full soak, about 2 minutes
//	go run ./cmd/soak -short          # the short one go test runs
//	go run ./cmd/soak -out report.md  # also write the report to a file
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/gcftrace/gcftrace/interop/soak"
)

func main() { os.Exit(run()) }

func run() int {
	short := flag.Bool("short", false, "run the short soak go test runs")
	phase := flag.Duration("phase", 0, "length of each fault phase (0: the version's default)")
	recovery := flag.Duration("recovery", 0, "length of the last phase, healthy again (0: the version's default)")
	rate := flag.Int("rate", 0, "steady invocations per second (0: the version's default)")
	burst := flag.Int("burst", 0, "concurrent invocations per burst (0: the version's default)")
	budget := flag.Duration("flush-timeout", 0, "flush budget, core.Config.FlushTimeout (0: the version's default)")
	out := flag.String("out", "", "also write the report to this file")
	flag.Parse()

	cfg := soak.FullConfig()
	if *short {
		cfg = soak.ShortConfig()
	}
	if *phase > 0 {
		cfg.Phase = *phase
		cfg.BurstEvery = *phase
	}
	if *recovery > 0 {
		cfg.Recovery = *recovery
	}
	if *rate > 0 {
		cfg.Rate = *rate
	}
	if *burst > 0 {
		cfg.Burst = *burst
	}
	if *budget > 0 {
		cfg.FlushTimeout = *budget
	}

	stdout, stderr := os.Stdout, os.Stderr
	fmt.Fprintf(stderr, "soak: %d runs of %s of load each; the report follows when they are done\n",
		len(cfg.Runs), (10*cfg.Phase + cfg.Recovery).Round(100*time.Millisecond))
	capture, err := captureOutput()
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	rep, runErr := soak.Run(ctx, cfg)
	stop()
	output := capture()

	if rep != nil {
		if err := rep.WriteMarkdown(stdout); err != nil {
			fmt.Fprintln(stderr, "soak:", err)
		}
		if *out != "" {
			f, err := os.Create(*out)
			if err == nil {
				err = rep.WriteMarkdown(f)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				fmt.Fprintln(stderr, "soak:", err)
			}
		}
		for _, r := range rep.Runs {
			if r.GoroutineDump != "" {
				fmt.Fprintf(stderr, "\n%s: goroutines above the baseline:\n%s\n", r.Name, r.GoroutineDump)
			}
		}
	}
	fmt.Fprintf(stdout, "\nProcess output during the soak: %d lines captured, %d showing the token.\n", output.lines, len(output.leaks))
	for _, l := range output.leaks {
		fmt.Fprintln(stderr, "soak: the token in the process output:", l)
	}
	if runErr != nil {
		fmt.Fprintln(stderr, runErr)
		return 2
	}
	failures := rep.Failures()
	for _, f := range failures {
		fmt.Fprintln(stderr, "FAIL", f)
	}
	if len(failures) > 0 || len(output.leaks) > 0 {
		return 1
	}
	return 0
}

type outputReport struct {
	lines int
	leaks []string
}

// captureOutput sends the process's standard output and error to a pipe
// that is read line by line, until the returned function restores them and
// reports what was read. It must run before anything writes to them from
// another goroutine.
func captureOutput() (func() outputReport, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = w, w
	var (
		mu  sync.Mutex
		rep outputReport
		wg  sync.WaitGroup
	)
	wg.Go(func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			rep.lines++
			if soak.ShowsToken(line) {
				rep.leaks = append(rep.leaks, line)
			}
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, r)
	})
	return func() outputReport {
		os.Stdout, os.Stderr = stdout, stderr
		_ = w.Close()
		wg.Wait()
		_ = r.Close()
		mu.Lock()
		defer mu.Unlock()
		return outputReport{lines: rep.lines, leaks: append([]string(nil), rep.leaks...)}
	}, nil
}
