// Command imh is invisible multihoming for I2P: one binary whose subcommands
// are the balancer agent, the router side, the simulated network, the demo and
// the operator CLI. This package is the composition root: the only place that
// sees cobra and viper.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, as docs/cli.md promises: 0 ok, 1 the operation failed, 2 usage
// error or malformed input.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// usageError marks an error that is the caller's fault (bad flag, unreadable
// or malformed file); main maps it to exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf builds a usageError; main prints it as one line and exits 2.
func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// asUsage marks err, if any, as the caller's to fix (exit 2): for the
// errors of a package function that are all about its input (a flag, a
// file the operator named, a setting).
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err: err}
}

// usageOf is asUsage for a function that returns a value too:
// usageOf(keyfile.Read(path)).
func usageOf[T any](v T, err error) (T, error) { return v, asUsage(err) }

// commands are the constructors of the top-level commands, one per command
// group (each in its own file). An explicit list, not registration from
// init: the root shows in one place what the binary offers, and a test can
// build a fresh tree with no package state.
func commands() []func() *cobra.Command {
	return []func() *cobra.Command{
		newAgentCmd, newClusterCmd, newDemoCmd, newDestCmd, newFrontendCmd,
		newI2CPCmd, newKeygenCmd, newLeasesetCmd, newNcCmd, newPingCmd,
		newRouterCmd, newSimnetCmd, newStatusCmd, newTLSCmd, newTunnelCmd,
		newVersionCmd,
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "imh",
		Short:         "invisible multihoming for I2P: one Destination on many routers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version prints what `imh version` prints; cobra's default
	// `completion bash|zsh|fish|powershell` command stays enabled.
	root.Version = buildVersion()
	root.SetVersionTemplate("imh {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err: err}
	})
	for _, f := range commands() {
		root.AddCommand(f())
	}
	return root
}

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		msg := err.Error()
		// cobra reports unknown commands and arguments as plain errors.
		if isCobraUsageError(msg) {
			err = &usageError{err: err}
		}
		fmt.Fprintln(os.Stderr, "imh: "+singleLine(msg))
	}
	os.Exit(exitCode(err))
}

// singleLine folds a multi-line message (a library's multierror: "N errors
// occurred:" and a bulleted list) into the one line docs/cli.md promises.
func singleLine(msg string) string {
	if !strings.ContainsAny(msg, "\r\n") {
		return msg
	}
	var parts []string
	for _, l := range strings.FieldsFunc(msg, func(r rune) bool { return r == '\n' || r == '\r' }) {
		l = multiErrorHeading.ReplaceAllString(strings.TrimPrefix(strings.TrimSpace(l), "* "), "")
		if l = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(l), ":")); l != "" {
			parts = append(parts, l)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(append(parts[:1:1], strings.Join(parts[1:], "; ")), ": ")
}

var multiErrorHeading = regexp.MustCompile(`\d+ errors? occurred:?\s*$`)

// isCobraUsageError recognises the argument errors cobra produces itself,
// which carry no type of their own.
func isCobraUsageError(msg string) bool {
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "requires exactly", "unknown flag", "unknown shorthand", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// argName is a name from the command line as error messages print it: an
// over-long one (names are at most 64 characters) is cut, never echoed in
// full.
func argName(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%.32s...(%d bytes)", s, len(s))
}
