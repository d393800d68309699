package simnet

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/imh-project/imh/i2p"
)

// The settings of the client commands `imh simnet send` and `imh simnet
// baseline` as the command reads them (flag > IMH_ environment >
// default): each field's mapstructure tag is its flag's name, so that the
// command decodes its settings straight into them. Their methods turn them
// into what RemoteSend and RemoteBaseline take, checking them first; the
// errors name the flags, since that is where every value comes from, and
// are all the caller's to fix.

// SendSettings are the settings of `imh simnet send`.
type SendSettings struct {
	Network   string        `mapstructure:"network"` // the daemon, simnet://H:P
	Dest      string        `mapstructure:"dest"`    // b32, with or without .b32.i2p
	Count     int           `mapstructure:"count"`
	Clients   int           `mapstructure:"clients"`
	Interval  time.Duration `mapstructure:"interval"`
	Mode      string        `mapstructure:"mode"`
	Behaviour string        `mapstructure:"behaviour"`
	// JSON prints the result as one JSON object; Messages, which lists
	// every message's outcome in it, needs it.
	JSON     bool `mapstructure:"json"`
	Messages bool `mapstructure:"messages"`
}

// Config checks the settings and returns the daemon's address and the
// run they describe.
func (s SendSettings) Config() (addr string, cfg SendConfig, err error) {
	if s.Network == "" || s.Dest == "" {
		return "", cfg, errors.New("--network and --dest are required")
	}
	if addr, err = ParseAddr(s.Network); err != nil {
		return "", cfg, fmt.Errorf("--network: %w", err)
	}
	dest, err := i2p.ParseB32(s.Dest)
	if err != nil {
		return "", cfg, fmt.Errorf("--dest: %w", err)
	}
	mode, err := ParseMode(s.Mode)
	if err != nil {
		return "", cfg, fmt.Errorf("--mode: %w", err)
	}
	behaviour, err := ParseBehaviour(s.Behaviour)
	if err != nil {
		return "", cfg, fmt.Errorf("--behaviour: %w", err)
	}
	if s.Messages && !s.JSON {
		return "", cfg, errors.New("--messages needs --json")
	}
	cfg = SendConfig{Dest: dest, Count: s.Count, Clients: s.Clients, Interval: s.Interval, Mode: mode, Behaviour: behaviour, Messages: s.Messages}
	if err := cfg.Validate(); err != nil {
		return "", cfg, err
	}
	return addr, cfg, nil
}

// BaselineSettings are the settings of `imh simnet baseline`.
type BaselineSettings struct {
	Network string `mapstructure:"network"` // the daemon, simnet://H:P
	Keys    string `mapstructure:"keys"`    // private key file of the destination
	Routers string `mapstructure:"routers"` // comma-separated names of the stock routers
	Inbound int    `mapstructure:"inbound"`
	Hops    int    `mapstructure:"hops"`
	JSON    bool   `mapstructure:"json"` // print the counts as one JSON object
}

// Config checks the settings, reads the key file, and returns the
// daemon's address, the routers' names and the baseline they describe
// (DefaultBaselineConfig with Inbound and Hops).
func (s BaselineSettings) Config() (addr string, names []string, cfg BaselineConfig, err error) {
	if s.Network == "" || s.Keys == "" || s.Routers == "" {
		return "", nil, cfg, errors.New("--network, --keys and --routers are required")
	}
	if addr, err = ParseAddr(s.Network); err != nil {
		return "", nil, cfg, fmt.Errorf("--network: %w", err)
	}
	raw, err := os.ReadFile(s.Keys)
	if err != nil {
		return "", nil, cfg, fmt.Errorf("read keys: %w", err)
	}
	keys, err := i2p.ParsePrivateKeys(raw)
	if err != nil {
		return "", nil, cfg, fmt.Errorf("keys %s: %w", s.Keys, err)
	}
	cfg = DefaultBaselineConfig(keys)
	cfg.Inbound, cfg.Hops = s.Inbound, s.Hops
	for _, name := range strings.Split(s.Routers, ",") {
		if name = strings.TrimSpace(name); name == "" {
			return "", nil, cfg, fmt.Errorf("empty router name in --routers %q", s.Routers)
		}
		names = append(names, name)
	}
	if err := cfg.Validate(); err != nil {
		return "", nil, cfg, err
	}
	return addr, names, cfg, nil
}
