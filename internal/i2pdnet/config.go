package i2pdnet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// confTmpl is TESTNET.md's "Several routers" configuration: everything
// bound to the router's own 198.18.0.i, NTCP2 only (published), private
// netid 77, reseed only from the local seed.zip (the URLs are dead loopback
// ports so the public defaults are never used), every service but the
// console and I2CP off.
var confTmpl = template.Must(template.New("i2pd.conf").Parse(`log = file
logfile = {{.Dir}}/i2pd.log
loglevel = info
pidfile = {{.Dir}}/i2pd.pid
tunconf = {{.Dir}}/tunnels.conf
tunnelsdir = {{.Dir}}/tunnels.d
netid = 77
ipv4 = true
ipv6 = false
nat = false
host = {{.Addr}}
address4 = {{.Addr}}
port = {{.NTCP2Port}}
reservedrange = false
floodfill = {{.Floodfill}}
notransit = {{.NoTransit}}
bandwidth = X

[ntcp2]
enabled = true
published = true
port = {{.NTCP2Port}}

[ssu2]
enabled = false

[http]
enabled = true
address = {{.Addr}}
port = {{.ConsolePort}}
strictheaders = false

[i2cp]
enabled = true
address = {{.Addr}}
port = {{.I2CPPort}}

[httpproxy]
enabled = false

[socksproxy]
enabled = false

[sam]
enabled = false

[bob]
enabled = false

[i2pcontrol]
enabled = false

[upnp]
enabled = false

[nettime]
enabled = false

[exploratory]
inbound.length = 1
inbound.quantity = 2
outbound.length = 1
outbound.quantity = 2

[persist]
profiles = false

[reseed]
verify = false
threshold = 0
zipfile = {{.Seed}}
urls = https://127.0.0.1:9/
yggurls = http://127.0.0.1:9/

[addressbook]
enabled = false
`))

// writeRouterFiles creates r's datadir with i2pd.conf, tunnels.conf (extra
// tunnels text, may be empty) and the extra files.
func writeRouterFiles(r Router, seed, tunnels string, files map[string][]byte) error {
	if err := os.MkdirAll(filepath.Join(r.Dir, "tunnels.d"), 0o755); err != nil {
		return fmt.Errorf("%s: datadir: %w", r.Name(), err)
	}
	var conf strings.Builder
	err := confTmpl.Execute(&conf, map[string]any{
		"Dir":         r.Dir,
		"Addr":        r.Addr.String(),
		"NTCP2Port":   NTCP2Port,
		"ConsolePort": ConsolePort,
		"I2CPPort":    I2CPPort,
		"Floodfill":   r.Floodfill,
		"NoTransit":   r.NoTransit,
		"Seed":        seed,
	})
	if err != nil {
		return fmt.Errorf("%s: i2pd.conf: %w", r.Name(), err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "i2pd.conf"), []byte(conf.String()), 0o644); err != nil {
		return fmt.Errorf("%s: i2pd.conf: %w", r.Name(), err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "tunnels.conf"), []byte(tunnels), 0o644); err != nil {
		return fmt.Errorf("%s: tunnels.conf: %w", r.Name(), err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(r.Dir, name), b, 0o600); err != nil {
			return fmt.Errorf("%s: %w", r.Name(), err)
		}
	}
	return nil
}
