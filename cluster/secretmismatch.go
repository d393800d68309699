package cluster

import (
	"log"
	"strings"
	"sync"
	"time"

	"github.com/imh-project/imh/internal/logging"
)

// A node started with another cluster's secret cannot decrypt gossip nor be
// decrypted (the memberlist key derives from the secret). memberlist says
// so as an ERROR per message, on the good agents about once a second for as
// long as the stranger keeps trying, and the stranger itself hears only a
// failed join. Both sides instead log one line saying what it is, at most
// once per secretMismatchEvery.

// secretMismatchEvery rate-limits the line on either side.
const secretMismatchEvery = time.Minute

// memberlistDecryptFailure is the text of memberlist's decryption error
// (security.go): the other side's key differs. A joiner whose push the
// other side could not decrypt gets that side's error answer in the clear:
// memberlistPlainAnswer.
const (
	memberlistDecryptFailure = "no installed keys could decrypt the message"
	memberlistPlainAnswer    = "encryption is configured but remote state is not encrypted"
)

func containsFold(s, sub string) bool { return strings.Contains(strings.ToLower(s), sub) }

// mismatchLog is the rate limiter of one side's line.
type mismatchLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now and how many were suppressed since
// the last line.
func (m *mismatchLog) allow(now time.Time) (bool, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.last.IsZero() && now.Sub(m.last) < secretMismatchEvery {
		m.suppressed++
		return false, 0
	}
	n := m.suppressed
	m.last, m.suppressed = now, 0
	return true, n
}

// gossipLogger is memberlist's logger: its decryption failures become the
// rate-limited "another cluster secret" line, everything else passes on.
func (c *Cluster) gossipLogger() *log.Logger {
	l := c.cfg.Logger.With("component", "gossip", "node", c.cfg.NodeName)
	return logging.StdLoggerIntercept(l, func(msg string) bool {
		if !containsFold(msg, memberlistDecryptFailure) && !containsFold(msg, memberlistPlainAnswer) {
			return false
		}
		if containsFold(msg, "failed to join") {
			return true // this agent's own join: joinSecretMismatch reports it
		}
		from := ""
		if i := strings.LastIndex(msg, "from="); i >= 0 {
			from = strings.TrimSpace(msg[i+len("from="):])
		}
		if ok, suppressed := c.strangers.allow(time.Now()); ok {
			c.log.Warn("a node with another cluster secret is trying to join: its gossip cannot be decrypted (check that node's --secret-file or IMH_SECRET)",
				"from", from, "repeats_suppressed", suppressed, "next_report_after", secretMismatchEvery)
		}
		return true
	})
}

// joinSecretMismatch reports, rate-limited, that the agents this one tries
// to join answered under another key. It returns whether err was that.
func (c *Cluster) joinSecretMismatch(addrs []string, err error) bool {
	if err == nil || !containsFold(err.Error(), memberlistDecryptFailure) && !containsFold(err.Error(), memberlistPlainAnswer) {
		return false
	}
	if ok, suppressed := c.foreign.allow(time.Now()); ok {
		c.log.Error("the agents at the --join addresses have another cluster secret: this agent cannot join them (check --secret-file or IMH_SECRET)",
			"addrs", addrs, "repeats_suppressed", suppressed, "next_report_after", secretMismatchEvery)
	}
	return true
}
