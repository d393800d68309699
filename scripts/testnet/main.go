// Command testnet builds the private i2pd network of internal/i2pdnet for a
// human: it starts N stock i2pd 2.45.1 routers in a namespace of their own,
// waits for tunnels, prints where everything is, and then either runs a
// command inside the namespace or waits for Ctrl-C; either way it tears the
// network down before exiting. As root:
//
//	go run ./scripts/testnet                       # wait for Ctrl-C
//	go run ./scripts/testnet -- bash               # a shell inside
//	go run ./scripts/testnet -- curl -s 198.18.0.1:7070/?page=transports
//	go run ./scripts/testnet -cleanup              # remove stale imh-* namespaces
//
// The command gets IMH_TESTNET_NS, IMH_TESTNET_DIR and IMH_TESTNET_I2CP (the
// I2CP addresses of the non-floodfill routers, space separated) in its
// environment; its exit code becomes testnet's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/imh-project/imh/internal/i2pdnet"
)

func main() {
	os.Exit(run())
}

func run() int {
	routers := flag.Int("routers", 5, "number of routers (198.18.0.1..N)")
	floodfills := flag.Int("floodfills", 2, "how many of the first routers are floodfills")
	cleanup := flag.Bool("cleanup", false, "only remove namespaces (and their processes) left by dead runs")
	verbose := flag.Bool("v", false, "debug logging")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx := context.Background()

	removed, err := i2pdnet.CleanupStale(ctx)
	if len(removed) > 0 {
		log.Info("removed stale namespaces", "names", removed)
	}
	if err != nil || *cleanup {
		return report(err)
	}

	// Signals are handled here, not by the package: while a command runs,
	// the terminal's Ctrl-C belongs to it.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	t0 := time.Now()
	n, err := i2pdnet.Start(ctx, i2pdnet.Options{
		Routers: *routers, Floodfills: *floodfills, Log: log, NoSignalTeardown: true,
	})
	if err != nil {
		return report(err)
	}
	defer func() {
		if err := n.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "testnet: teardown:", err)
		}
	}()
	readyCtx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-readyCtx.Done():
		}
	}()
	err = n.WaitReady(readyCtx)
	cancel()
	if err != nil {
		return report(err)
	}
	printNet(n, time.Since(t0))

	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "testnet: running; Ctrl-C tears it down")
		<-sigs
		return 0
	}
	return runInside(n, flag.Args(), sigs)
}

// runInside runs args inside the namespace in the foreground (same process
// group, stdin passed through) and returns its exit code. Ctrl-C reaches it
// from the terminal; SIGTERM to testnet stops it.
func runInside(n *i2pdnet.Net, args []string, sigs <-chan os.Signal) int {
	cmd := n.Exec(context.Background(), args[0], args[1:]...)
	cmd.SysProcAttr = nil
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	var i2cp []string
	for _, r := range n.Routers() {
		if !r.Floodfill {
			i2cp = append(i2cp, r.I2CPAddr)
		}
	}
	cmd.Env = append(os.Environ(),
		"IMH_TESTNET_NS="+n.Namespace(),
		"IMH_TESTNET_DIR="+n.Dir(),
		"IMH_TESTNET_I2CP="+strings.Join(i2cp, " "))
	if err := cmd.Start(); err != nil {
		return report(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode()
			}
			if err != nil {
				return report(err)
			}
			return 0
		case sig := <-sigs:
			if sig == syscall.SIGTERM {
				_ = cmd.Process.Signal(syscall.SIGTERM)
			}
		}
	}
}

func printNet(n *i2pdnet.Net, took time.Duration) {
	tm := n.Timings()
	fmt.Printf("namespace %s, dir %s\n", n.Namespace(), n.Dir())
	fmt.Printf("up in %v (namespace %v, bootstrap %v), tunnels %v later; %v in all\n",
		tm.Total.Round(time.Millisecond), tm.Namespace.Round(time.Millisecond),
		tm.Bootstrap.Round(time.Millisecond), tm.Ready.Round(time.Millisecond), took.Round(time.Millisecond))
	for _, r := range n.Routers() {
		role := "router"
		if r.Floodfill {
			role = "floodfill"
		}
		fmt.Printf("%-3s %-9s %s  i2cp %s  console http://%s/  %s\n",
			r.Name(), role, r.Hash.Base64(), r.I2CPAddr, r.ConsoleAddr, r.Dir)
	}
}

func report(err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "testnet:", err)
	return 1
}
