package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/internal/clock"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/internal/supervise"
)

// The demo's website: a page served on loopback behind destination "site"
// (a TCP service under failover, in multi-client mode: the frontends
// beside the routers terminate its streams, not the leader), fetched over
// the simulated network through an `imh tunnel` child.
const (
	demoSite     = "site"
	demoSitePage = "<!doctype html><title>imh</title><h1>Hello from a multihomed I2P site</h1>\n"
	demoTunnelAt = 39 // port offset of the tunnel's listener (the last of the span)
)

// webDemo serves the page, creates "site", starts the tunnel and fetches
// the page through it, printing status, bytes and time.
func (d *demo) webDemo(ctx context.Context) error {
	backend, err := serveDemoPage(ctx)
	if err != nil {
		return err
	}
	inbound, policy, service, frontends := 2, "failover", "tcp://"+backend, true
	req := cluster.DestinationRequest{Name: demoSite, Inbound: &inbound, Policy: &policy, Service: &service, Frontends: &frontends}
	info, err := call(d, d.apis[0], func(c *client.Client) (cluster.DestinationInfo, error) { return c.CreateDestination(ctx, req) })
	if err != nil {
		return fmt.Errorf("demo: dest create %s: %w", demoSite, err)
	}
	fmt.Fprintf(d.out, "\ndestination %s serves http://%s (failover, backend %s, multi-client: streams end at the frontends)\n", demoSite, info.B32, backend)
	if _, err := d.waitStatus(ctx, "the site's LeaseSet", func(st *status.Status) bool {
		for _, ds := range st.Destinations {
			if ds.Name == demoSite && ds.Leases > 0 {
				return true
			}
		}
		return false
	}); err != nil {
		return err
	}
	listen := d.port(demoTunnelAt)
	if _, err := d.start("tunnel", "tunnel", "--listen", listen, "--to", info.B32, "--network", "simnet://"+d.simnetAddr()); err != nil {
		return err
	}
	if err := supervise.WaitListening(ctx, listen, demoReadyTimeout); err != nil {
		return fmt.Errorf("demo: tunnel: %w", err)
	}
	if err := d.fetchPage(ctx, "http://"+listen+"/", info.B32); err != nil {
		return err
	}
	return d.printFrontends(ctx)
}

// printFrontends shows which frontend carried the site's streams.
func (d *demo) printFrontends(ctx context.Context) error {
	st, err := d.waitStatus(ctx, "the frontends' report", func(st *status.Status) bool {
		for _, f := range st.Frontends {
			for _, fd := range f.Destinations {
				if fd.Name == demoSite && fd.Accepted > 0 {
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	for _, f := range st.Frontends {
		for _, fd := range f.Destinations {
			if fd.Name == demoSite {
				fmt.Fprintf(d.out, "  frontend %s (beside %s): attached %v, %d streams, %d bytes out\n", f.Name, f.Router, fd.Attached, fd.Accepted, fd.BytesOut)
			}
		}
	}
	return nil
}

// fetchPage GETs url (the tunnel) until the page comes, for up to a minute.
func (d *demo) fetchPage(ctx context.Context, url, b32 string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 20 * time.Second}
	for {
		start := time.Now()
		resp, err := client.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				fmt.Fprintf(d.out, "GET http://%s/ through imh tunnel (%s): %s, %d bytes in %.2fs\n  %s",
					b32, url, resp.Status, len(body), time.Since(start).Seconds(), body)
				return nil
			}
			err = fmt.Errorf("%s (%v)", resp.Status, rerr)
		}
		if clock.Sleep(ctx, clock.Real(), time.Second) != nil {
			return fmt.Errorf("demo: fetch the site through the tunnel: %v", err)
		}
	}
}

// serveDemoPage serves the page on a loopback port until ctx ends.
func serveDemoPage(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("demo: page server: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, demoSitePage)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return ln.Addr().String(), nil
}
