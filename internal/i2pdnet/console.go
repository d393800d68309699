package i2pdnet

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/imh-project/imh/i2p"
)

// maxPage bounds a console page read.
const maxPage = 8 << 20

// Console fetches router i's web console page /?page=PAGE (page "" is the
// main page) from inside the namespace and returns its HTML.
func (n *Net) Console(ctx context.Context, i int, page string) (string, error) {
	r := n.Router(i)
	url := "http://" + r.ConsoleAddr + "/"
	if page != "" {
		url += "?page=" + page
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("console %s: %w", url, err)
	}
	resp, err := n.HTTPClient().Do(req)
	if err != nil {
		return "", fmt.Errorf("console %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	if err != nil {
		return "", fmt.Errorf("console %s: read: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("console %s: status %s", url, resp.Status)
	}
	return string(body), nil
}

// LeaseSets returns the LeaseSets router i stores (meaningful on
// floodfills), from its /?page=leasesets.
func (n *Net) LeaseSets(ctx context.Context, i int) ([]LeaseSetInfo, error) {
	page, err := n.Console(ctx, i, "leasesets")
	if err != nil {
		return nil, err
	}
	ls, err := ParseLeaseSets(page, time.Local)
	if err != nil {
		return nil, fmt.Errorf("%s leasesets: %w", n.Router(i).Name(), err)
	}
	return ls, nil
}

// Tunnels returns router i's tunnels, from its /?page=tunnels.
func (n *Net) Tunnels(ctx context.Context, i int) ([]TunnelInfo, error) {
	page, err := n.Console(ctx, i, "tunnels")
	if err != nil {
		return nil, err
	}
	ts, err := ParseTunnels(page)
	if err != nil {
		return nil, fmt.Errorf("%s tunnels: %w", n.Router(i).Name(), err)
	}
	return ts, nil
}

// Transports returns router i's established transport sessions, from its
// /?page=transports.
func (n *Net) Transports(ctx context.Context, i int) ([]TransportSession, error) {
	page, err := n.Console(ctx, i, "transports")
	if err != nil {
		return nil, err
	}
	ts, err := ParseTransports(page)
	if err != nil {
		return nil, fmt.Errorf("%s transports: %w", n.Router(i).Name(), err)
	}
	return ts, nil
}

// RouterByAbbrev finds the router whose identity hash's I2P base64 starts
// with abbrev, the 4-character form the console pages use.
func (n *Net) RouterByAbbrev(abbrev string) (Router, bool) {
	for _, r := range n.routers {
		if !r.Hash.IsZero() && strings.HasPrefix(r.Hash.Base64(), abbrev) {
			return r, true
		}
	}
	return Router{}, false
}

// RouterByHash finds the router with identity hash h (e.g. a lease's
// gateway).
func (n *Net) RouterByHash(h i2p.Hash) (Router, bool) {
	for _, r := range n.routers {
		if r.Hash == h {
			return r, true
		}
	}
	return Router{}, false
}

// readyTimeout caps WaitReady when ctx has no deadline (measured: about 2 s).
const readyTimeout = 90 * time.Second

// WaitReady waits until every router has built tunnels through the network:
// at least one established inbound and one established outbound tunnel
// with at least one hop through another router (the tunnels of a lone
// router have none). It fails at once if a router's i2pd exits, and after
// ctx's deadline (90 s if it has none) with what each router had.
func (n *Net) WaitReady(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readyTimeout)
		defer cancel()
	}
	t0 := time.Now()
	status := make(map[int]string)
	for {
		waiting := 0
		for _, r := range n.routers {
			if status[r.Index] == "ready" {
				continue
			}
			if p := n.proc(r.Index); p.exited() {
				return fmt.Errorf("%s: %w (%v); log tail:\n%s", r.Name(), ErrRouterExited, p.waitErr, tail(r.LogPath(), 20))
			}
			status[r.Index] = n.readiness(ctx, r.Index)
			if status[r.Index] != "ready" {
				waiting++
				continue
			}
			n.log.Debug("router ready", "router", r.Name(), "after", time.Since(t0))
		}
		if waiting == 0 {
			took := time.Since(t0)
			n.mu.Lock()
			n.timings.Ready = took
			n.mu.Unlock()
			n.log.Info("network ready", "took", took)
			return nil
		}
		if err := sleepCtx(ctx, readyPoll); err != nil {
			return fmt.Errorf("network %s not ready after %v: %w; routers: %v", n.ns, time.Since(t0).Round(time.Millisecond), err, status)
		}
	}
}

// readyPoll is how often WaitReady looks at the consoles.
const readyPoll = 250 * time.Millisecond

// readiness describes router i for WaitReady: "ready" or what is missing.
func (n *Net) readiness(ctx context.Context, i int) string {
	ts, err := n.Tunnels(ctx, i)
	if err != nil {
		return err.Error()
	}
	var in, out int
	for _, t := range ts {
		if t.State != "established" || len(t.Hops) == 0 {
			continue
		}
		if t.Inbound {
			in++
		} else {
			out++
		}
	}
	if in > 0 && out > 0 {
		return "ready"
	}
	return fmt.Sprintf("%d inbound, %d outbound tunnels with hops", in, out)
}
