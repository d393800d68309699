package main

import "testing"

// TestCommandTree checks that the cluster's client commands are wired under
// their parents next to the other helpers' subcommands.
func TestCommandTree(t *testing.T) {
	root := newRootCmd()
	for _, path := range [][]string{
		{"agent"}, {"keygen"}, {"status"},
		{"router", "add"}, {"router", "remove"}, {"router", "list"},
		{"frontend", "add"}, {"frontend", "remove"}, {"frontend", "list"},
		{"dest", "create"}, {"dest", "import"}, {"dest", "set"}, {"dest", "list"}, {"dest", "show"}, {"dest", "remove"},
	} {
		cmd, rest, err := root.Find(path)
		if err != nil || len(rest) != 0 || cmd.Name() != path[len(path)-1] {
			t.Errorf("imh %v: not found (%v)", path, err)
			continue
		}
		if path[0] != "agent" && path[0] != "keygen" && cmd.Flags().Lookup("http-addr") == nil {
			t.Errorf("imh %v has no --http-addr", path)
		}
		if path[0] != "agent" && path[0] != "keygen" && cmd.Flags().Lookup("json") == nil {
			t.Errorf("imh %v has no --json", path)
		}
	}
}
