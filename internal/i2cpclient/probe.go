package i2cpclient

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// ProbeResult is what `imh i2cp probe` learns of a router; its JSON is
// the object docs/cli.md promises (field names are a contract).
type ProbeResult struct {
	RouterVersion string       `json:"router_version"`
	ClockOffsetMs int64        `json:"clock_offset_ms"`
	Extensions    []string     `json:"extensions"`
	SessionID     *uint16      `json:"session_id"` // null without keys
	Leases        []ProbeLease `json:"leases"`
	SessionKept   bool         `json:"session_kept"`

	// LeaseAfter is the time from CreateSession to the first lease
	// request (for humans; not in the JSON).
	LeaseAfter time.Duration `json:"-"`
}

// ProbeLease is one lease of the last lease request answered.
type ProbeLease struct {
	Gateway string `json:"gateway"`
	Tunnel  uint32 `json:"tunnel"`
	End     uint32 `json:"end"`
}

// ReadSigningKeys reads the private key file a session is opened with
// (`imh i2cp probe --keys`): its keys must sign the session's LeaseSet2s
// themselves (Ed25519 without offline keys). Errors name the file.
func ReadSigningKeys(path string) (*i2p.PrivateKeys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	keys, err := i2p.ParsePrivateKeys(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if !keys.CanSign() {
		return nil, fmt.Errorf("key file %s: cannot sign with signature type %s (imh signs with Ed25519 keys without offline keys)", path, keys.Destination().SigType())
	}
	return keys, nil
}

// Probe reports what the router on c said in the handshake (version,
// clock offset, the extensions of an imh router). With keys it also runs
// KeepSession with ProbeOptions: the session must get a lease request
// within leaseTimeout and still be open keepFor after its LeaseSet was
// handed over, which is what a client of a stock router needs. Lists are
// empty, not null, in the JSON.
func Probe(ctx context.Context, c *routerproto.Client, keys *i2p.PrivateKeys, leaseTimeout, keepFor time.Duration) (*ProbeResult, error) {
	res := &ProbeResult{
		RouterVersion: c.RouterVersion(),
		ClockOffsetMs: c.ClockOffset().Milliseconds(),
		Extensions:    c.Capabilities(),
		Leases:        []ProbeLease{},
	}
	if res.Extensions == nil {
		res.Extensions = []string{}
	}
	if keys == nil {
		return res, nil
	}
	rep, err := KeepSession(ctx, c, keys, ProbeOptions(), leaseTimeout, keepFor)
	if err != nil {
		return nil, err
	}
	res.SessionID = &rep.SessionID
	res.LeaseAfter = rep.LeaseAfter
	for _, l := range rep.Leases {
		res.Leases = append(res.Leases, ProbeLease{Gateway: l.Gateway.String(), Tunnel: l.TunnelID, End: l.End})
	}
	res.SessionKept = true
	return res, nil
}

// Probe timings of ProbeRouter: the lease request waits as long as a
// router may take to build its first tunnels (I2P-WIRE 4.9 says give up
// after about 5 minutes); every other request gets probeStepTimeout.
const (
	probeLeaseTimeout = 3 * time.Minute
	probeStepTimeout  = 30 * time.Second
)

// ProbeRouter dials the router at addr with dial and probes it (Probe,
// keeping a session with keys for keepFor), then closes the connection.
// A failed probe names the router and the destination.
func ProbeRouter(ctx context.Context, addr string, dial func(context.Context, routerproto.ClientConfig) (*routerproto.Client, error), keys *i2p.PrivateKeys, keepFor time.Duration) (*ProbeResult, error) {
	cfg := routerproto.DefaultClientConfig()
	cfg.RequestTimeout = probeStepTimeout
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res, err := Probe(ctx, c, keys, probeLeaseTimeout, keepFor)
	if err != nil {
		return nil, fmt.Errorf("probe %s with %s: %w", addr, keys.Destination().B32(), err)
	}
	return res, nil
}

// WriteText writes what `imh i2cp probe` prints without --json
// (docs/cli.md): the handshake's facts, then, when a session was opened,
// its lease request and whether it was still open after keptFor.
func (r *ProbeResult) WriteText(w io.Writer, keptFor time.Duration) error {
	fmt.Fprintf(w, "router version:  %s\n", r.RouterVersion)
	fmt.Fprintf(w, "clock offset:    %d ms\n", r.ClockOffsetMs)
	ext := "none (stock router)"
	if len(r.Extensions) > 0 {
		ext = strings.Join(r.Extensions, ", ")
	}
	_, err := fmt.Fprintf(w, "extensions:      %s\n", ext)
	if r.SessionID == nil {
		return err
	}
	fmt.Fprintf(w, "session id:      %d\n", *r.SessionID)
	fmt.Fprintf(w, "lease request:   after %s\n", r.LeaseAfter.Round(time.Millisecond))
	for _, l := range r.Leases {
		fmt.Fprintf(w, "lease:           gateway %s tunnel %d end %d\n", l.Gateway, l.Tunnel, l.End)
	}
	_, err = fmt.Fprintf(w, "session kept:    %t (%s)\n", r.SessionKept, keptFor)
	return err
}
