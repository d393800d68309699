//go:build integration

package integration

// Loss of single packets below TCP (the nemesis's LosePackets): the kernel
// drops a share of the packets on an agent's raft port, each drawn on its
// own, and TCP retransmits them, as on a lossy network. The proxies of
// nemesis_test.go can only stall or reset a connection; this is the real
// thing, with iptables (the legacy x_tables backend and its statistic
// match) on loopback. Every rule sits in a chain of this test process's
// own, jumped to from INPUT and matching only the ports of this test's
// agents, and the chain is removed when the test ends. Without root or
// iptables-legacy the fault is unavailable and says why.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lossChain is the iptables chain of this test process.
func lossChain() string { return fmt.Sprintf("IMH-NEMESIS-%d", os.Getpid()) }

// iptables runs iptables-legacy with args.
func iptables(args ...string) error {
	out, err := exec.Command("iptables-legacy", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables-legacy %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// setupLoss creates this process's chain and jumps to it from INPUT, or
// sets nm.noLoss to why it cannot; the cleanup removes both.
func (nm *nemesis) setupLoss() {
	if uid := os.Geteuid(); uid != 0 {
		nm.noLoss = fmt.Sprintf("needs root for iptables (euid %d)", uid)
		return
	}
	if _, err := exec.LookPath("iptables-legacy"); err != nil {
		nm.noLoss = "needs iptables-legacy (Debian package iptables)"
		return
	}
	chain := lossChain()
	_ = iptables("-D", "INPUT", "-j", chain) // a leftover of an earlier process with this pid
	_ = iptables("-F", chain)
	_ = iptables("-X", chain)
	if err := iptables("-N", chain); err != nil {
		nm.noLoss = err.Error()
		return
	}
	if err := iptables("-I", "INPUT", "-j", chain); err != nil {
		nm.noLoss = err.Error()
		_ = iptables("-X", chain)
		return
	}
	nm.t.Cleanup(func() {
		for _, args := range [][]string{{"-D", "INPUT", "-j", chain}, {"-F", chain}, {"-X", chain}} {
			if err := iptables(args...); err != nil {
				nm.t.Errorf("remove the packet-loss chain: %v", err)
			}
		}
	})
	nm.loss = map[string]int{}
}

// LossUnavailable says why LosePackets cannot run ("" when it can).
func (nm *nemesis) LossUnavailable() string {
	switch {
	case nm.loss != nil:
		return ""
	case nm.noLoss != "":
		return nm.noLoss
	}
	return "not set up (startProxiedCluster sets it up)"
}

// lossRule is the rule that drops pct % of the TCP packets from or to
// port, both ways.
func lossRule(port, pct int) []string {
	return []string{"-p", "tcp", "-m", "multiport", "--ports", strconv.Itoa(port),
		"-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%.2f", float64(pct)/100), "-j", "DROP"}
}

// LosePackets drops pct % of the TCP packets on agent a's raft port (its
// --raft-bind), each packet drawn on its own by the kernel, until HealAll:
// both ways of every raft connection to a (from its proxy), so what a
// leader sends a and what a answers. The raft connections a leader dials
// end at the followers' ports: a lossy leader alone loses little.
func (nm *nemesis) LosePackets(a string, pct int) {
	nm.record("lose-packets", fmt.Sprintf("%s %d%%", a, pct))
	nm.mu.Lock()
	port := nm.raftPorts[a]
	nm.mu.Unlock()
	if err := iptables(append([]string{"-A", lossChain()}, lossRule(port, pct)...)...); err != nil {
		nm.t.Errorf("lose packets of %s: %v", a, err)
		return
	}
	nm.mu.Lock()
	nm.loss[a] = pct
	nm.mu.Unlock()
}

// healLoss removes the loss rule of agent a.
func (nm *nemesis) healLoss(a string) {
	nm.mu.Lock()
	pct, ok := nm.loss[a]
	port := nm.raftPorts[a]
	delete(nm.loss, a)
	nm.mu.Unlock()
	if !ok {
		return
	}
	nm.record("heal-packets", a)
	if err := iptables(append([]string{"-D", lossChain()}, lossRule(port, pct)...)...); err != nil {
		nm.t.Errorf("heal the packet loss of %s: %v", a, err)
	}
}

// droppedPackets is how many packets the loss rules of this process
// dropped so far (iptables' counters; the rules of healed faults no longer
// count).
func droppedPackets() (int, error) {
	out, err := exec.Command("iptables-legacy", "-L", lossChain(), "-n", "-v", "-x").Output()
	if err != nil {
		return 0, err
	}
	total := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[2] == "DROP" {
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return 0, fmt.Errorf("iptables counters: %q", line)
			}
			total += n
		}
	}
	return total, nil
}

// TestNemesisPacketLoss checks the loss of single packets on a real
// cluster: with 20 % of the packets on every agent's raft port dropped by
// the kernel, the cluster still commits writes (TCP retransmits what was
// lost); the kernel's counters show the drops; after the heal the agents
// converge. Needs root and iptables-legacy (installed by
// scripts/install-test-deps); skipped, saying why, without them, or failed
// under IMH_REQUIRE_I2PD=1 (CI, where the installer runs as root).
func TestNemesisPacketLoss(t *testing.T) {
	tc, nm := startProxiedCluster(t, 3, "")
	if why := nm.LossUnavailable(); why != "" {
		if os.Getenv("IMH_REQUIRE_I2PD") == "1" {
			t.Fatalf("IMH_REQUIRE_I2PD=1 but packets cannot be dropped here: %s", why)
		}
		t.Skip(why)
	}
	tc.waitLeader(30 * time.Second)
	for _, a := range tc.agents {
		nm.LosePackets(a.name, 20)
	}
	start := time.Now()
	ok, unknown := 0, 0
	var lastErr string
	for i := 0; time.Since(start) < 8*time.Second; i++ {
		op := []string{"add", "remove"}[i%2]
		out := call(tc.agents[i%3], kvInput{Key: "router/lossy", Op: op, Val: "127.0.0.1:9400"})
		switch out.Code {
		case "ok":
			ok++
		case "unknown":
			unknown++
			lastErr = out.Err
			time.Sleep(50 * time.Millisecond) // pacing: no leader now, ask again soon
		case "exists", "notfound": // after an unknown outcome that took effect
		default:
			t.Errorf("write %d under packet loss: %+v", i, out)
		}
	}
	dropped, err := droppedPackets()
	if err != nil {
		t.Fatal(err)
	}
	nm.HealAll()
	t.Logf("20 %% of the raft packets lost for 8 s: %d writes acknowledged, %d unknown (last: %s); the kernel dropped %d packets", ok, unknown, lastErr, dropped)
	if dropped == 0 {
		t.Error("the kernel dropped no packet: the loss rule matched nothing")
	}
	if ok == 0 {
		t.Error("no write committed under 20 % packet loss")
	}
	if n, err := droppedPackets(); err != nil || n != 0 {
		t.Errorf("after the heal the chain still drops: %d packets counted, %v", n, err)
	}
	tc.waitLeader(30 * time.Second)
	waitConverged(t, tc, 30*time.Second)
}
