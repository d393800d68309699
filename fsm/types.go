package fsm

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/wire"
)

// Policy is how a destination's LeaseSet draws leases from its routers.
// Persisted: append only.
type Policy uint8

// Lease policies (see ARCHITECTURE.md "Lease policies").
const (
	PolicySpread   Policy = 1 // leases from every router
	PolicyFailover Policy = 2 // one router's leases at a time
)

// Service is what the leader does with payloads reaching a destination.
// Persisted: append only.
type Service uint8

// Services.
const (
	ServiceNone Service = 1 // payloads are counted and dropped
	ServiceEcho Service = 2 // repliable datagrams are answered to their sender
	// ServiceTCP bridges every incoming I2P stream to a TCP connection to
	// Settings.ServiceAddr, the way an I2P server tunnel does.
	ServiceTCP Service = 3
)

// Direction of a tunnel. Persisted: append only.
type Direction uint8

// Tunnel directions.
const (
	Inbound  Direction = 1
	Outbound Direction = 2
)

// String is the CLI name (spread, failover).
func (p Policy) String() string {
	switch p {
	case PolicySpread:
		return "spread"
	case PolicyFailover:
		return "failover"
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}

// ParsePolicy parses "spread" or "failover".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "spread":
		return PolicySpread, nil
	case "failover":
		return PolicyFailover, nil
	}
	return 0, fmt.Errorf("%w: policy %q (want spread or failover)", ErrInvalid, s)
}

// String is the CLI name (none, echo, tcp).
func (s Service) String() string {
	switch s {
	case ServiceNone:
		return "none"
	case ServiceEcho:
		return "echo"
	case ServiceTCP:
		return "tcp"
	}
	return fmt.Sprintf("service(%d)", uint8(s))
}

// tcpScheme prefixes a TCP service's backend address on the CLI.
const tcpScheme = "tcp://"

// ParseService parses the CLI's service spec: "none", "echo" or
// "tcp://HOST:PORT" (the backend address comes back second, empty for the
// others).
func ParseService(s string) (Service, string, error) {
	switch {
	case s == "none":
		return ServiceNone, "", nil
	case s == "echo":
		return ServiceEcho, "", nil
	case strings.HasPrefix(s, tcpScheme):
		addr := strings.TrimPrefix(s, tcpScheme)
		if err := validBackend(addr); err != nil {
			return 0, "", err
		}
		return ServiceTCP, addr, nil
	}
	return 0, "", fmt.Errorf("%w: service %q (want none, echo or tcp://HOST:PORT)", ErrInvalid, s)
}

// validBackend checks a TCP service's HOST:PORT.
func validBackend(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || len(addr) > maxBackendLen {
		return fmt.Errorf("%w: tcp service address %q (want HOST:PORT)", ErrInvalid, addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%w: tcp service port %q (want 1..65535)", ErrInvalid, port)
	}
	return nil
}

// maxBackendLen bounds a TCP service address (a DNS name and a port).
const maxBackendLen = 261

// String is inbound or outbound.
func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// Settings are the operator's choices for a destination.
// Layout: inbound u8 | outbound u8 | hops u8 | policy u8 | service u8
// [| service address String, only when the service is tcp].
//
// The service byte carries a flag: bit 7 (0x80, frontendsFlag) is Frontends,
// bits 0-6 are the Service. Services are 1..3, so before the flag existed
// the bit was 0 in every valid encoding (Validate refused anything else):
// settings without a TCP service and without Frontends encode exactly as
// before either existed. An older binary reads a set flag as an unknown
// service and refuses the command, so turn Frontends on only once every
// agent runs a binary that knows it.
type Settings struct {
	Inbound  uint8 // inbound tunnels per router
	Outbound uint8 // outbound tunnels per router
	Hops     uint8 // hops per tunnel
	Policy   Policy
	Service  Service
	// ServiceAddr is the TCP backend (HOST:PORT) of ServiceTCP, empty
	// otherwise.
	ServiceAddr string
	// Frontends serves the destination in multi-client mode: its streams
	// end in the frontend beside each router (see Frontend), not in the
	// leader's balancer.
	Frontends bool
}

// frontendsFlag is Settings.Frontends in the service byte.
const frontendsFlag = 0x80

// ServiceSpec is the service as the CLI spells it: none, echo or
// tcp://HOST:PORT.
func (s Settings) ServiceSpec() string {
	if s.Service == ServiceTCP {
		return tcpScheme + s.ServiceAddr
	}
	return s.Service.String()
}

// DefaultSettings are CLI.md's defaults: 3 inbound, 2 outbound, 3 hops,
// spread, no service.
func DefaultSettings() Settings {
	return Settings{Inbound: 3, Outbound: 2, Hops: 3, Policy: PolicySpread, Service: ServiceNone}
}

// Validate checks the ranges the balancer can honour.
func (s Settings) Validate() error {
	switch {
	case s.Inbound < 1 || s.Inbound > i2p.MaxLeases:
		return fmt.Errorf("%w: inbound %d (want 1..%d)", ErrInvalid, s.Inbound, i2p.MaxLeases)
	case s.Outbound < 1 || s.Outbound > i2p.MaxLeases:
		return fmt.Errorf("%w: outbound %d (want 1..%d)", ErrInvalid, s.Outbound, i2p.MaxLeases)
	case s.Hops > MaxHops:
		return fmt.Errorf("%w: hops %d (want 0..%d)", ErrInvalid, s.Hops, MaxHops)
	case s.Policy != PolicySpread && s.Policy != PolicyFailover:
		return fmt.Errorf("%w: %s", ErrInvalid, s.Policy)
	case s.Service != ServiceNone && s.Service != ServiceEcho && s.Service != ServiceTCP:
		return fmt.Errorf("%w: %s", ErrInvalid, s.Service)
	case s.Service == ServiceTCP:
		return validBackend(s.ServiceAddr)
	case s.ServiceAddr != "":
		return fmt.Errorf("%w: a service address needs service tcp", ErrInvalid)
	}
	return nil
}

func (s Settings) append(b []byte) ([]byte, error) {
	if s.Service&frontendsFlag != 0 {
		return b, fmt.Errorf("%w: %s", ErrInvalid, s.Service)
	}
	svc := byte(s.Service)
	if s.Frontends {
		svc |= frontendsFlag
	}
	b = append(b, s.Inbound, s.Outbound, s.Hops, byte(s.Policy), svc)
	if s.Service != ServiceTCP {
		return b, nil
	}
	return wire.AppendString(b, s.ServiceAddr)
}

func readSettings(r *wire.Reader) Settings {
	s := Settings{
		Inbound: r.Uint8("inbound"), Outbound: r.Uint8("outbound"), Hops: r.Uint8("hops"),
		Policy: Policy(r.Uint8("policy")),
	}
	svc := r.Uint8("service")
	s.Service, s.Frontends = Service(svc&^frontendsFlag), svc&frontendsFlag != 0
	if s.Service == ServiceTCP {
		s.ServiceAddr = r.String("service address")
	}
	return s
}

// Router is an operator-added router. Its health is not replicated.
type Router struct {
	Name string
	Addr string
}

// Frontend is the process beside a router that, in multi-client mode,
// terminates the streams of destinations with Settings.Frontends; the
// leader dials it as it dials routers. Its health is not replicated.
type Frontend struct {
	Name   string
	Addr   string // its control address, HOST:PORT
	Router string // the name of the router it sits beside (which may be added later)
}

// Destination is a hosted service. The private keys are sealed; the fsm
// never sees them in the clear.
type Destination struct {
	Name              string
	Destination       []byte
	SealedKeys        []byte
	SealedLeaseSetKey []byte
	LeaseSetPublicKey []byte
	Settings          Settings
	LeaseSet          *PublishedLeaseSet // the last one published, or nil
	hash              i2p.Hash
}

// Hash is the Destination's hash (its b32 address).
func (d *Destination) Hash() i2p.Hash { return d.hash }

// String shows only the name and b32: the value holds sealed secrets.
func (d *Destination) String() string { return d.Name + " (" + d.hash.B32() + ")" }

func (d *Destination) clone() *Destination {
	c := *d
	c.Destination = bytes.Clone(d.Destination)
	c.SealedKeys = bytes.Clone(d.SealedKeys)
	c.SealedLeaseSetKey = bytes.Clone(d.SealedLeaseSetKey)
	c.LeaseSetPublicKey = bytes.Clone(d.LeaseSetPublicKey)
	if d.LeaseSet != nil {
		ls := d.LeaseSet.clone()
		c.LeaseSet = &ls
	}
	return &c
}

// PublishedLeaseSet is the last LeaseSet the leader published.
type PublishedLeaseSet struct {
	Bytes     []byte   // LeaseSet2 without the store type byte
	Published uint32   // seconds since the epoch
	Routers   []string // per lease, in order, the router whose tunnel it is
}

func (p PublishedLeaseSet) clone() PublishedLeaseSet {
	return PublishedLeaseSet{Bytes: bytes.Clone(p.Bytes), Published: p.Published, Routers: slices.Clone(p.Routers)}
}

// TunnelKey identifies a tunnel: a router's tunnel id is unique per
// direction and destination.
type TunnelKey struct {
	Router      string
	Destination string
	Direction   Direction
	ID          uint32
}

func (k TunnelKey) append(b []byte) ([]byte, error) {
	b, err := appendStrings(b, k.Router, k.Destination)
	b = append(b, byte(k.Direction))
	return wire.AppendUint32(b, k.ID), err
}

func readTunnelKey(r *wire.Reader) TunnelKey {
	return TunnelKey{
		Router: r.String("router"), Destination: r.String("destination"),
		Direction: Direction(r.Uint8("direction")), ID: r.Uint32("tunnel id"),
	}
}

func (k TunnelKey) compare(o TunnelKey) int {
	if c := cmpString(k.Destination, o.Destination); c != 0 {
		return c
	}
	if c := cmpString(k.Router, o.Router); c != 0 {
		return c
	}
	if k.Direction != o.Direction {
		return int(k.Direction) - int(o.Direction)
	}
	switch {
	case k.ID < o.ID:
		return -1
	case k.ID > o.ID:
		return 1
	}
	return 0
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Tunnel is a tunnel the leader built for a destination on a router.
type Tunnel struct {
	TunnelKey
	Gateway i2p.Hash   // inbound: the gateway router; outbound: the endpoint
	Hops    []i2p.Hash // the hops, gateway first
	Expires uint32     // seconds since the epoch
}

func (t Tunnel) append(b []byte) ([]byte, error) {
	b, err := t.TunnelKey.append(b)
	if err != nil {
		return b, err
	}
	b = append(b, t.Gateway[:]...)
	if len(t.Hops) > MaxHops {
		return b, fmt.Errorf("%w: %d hops", ErrInvalid, len(t.Hops))
	}
	b = append(b, byte(len(t.Hops)))
	for _, h := range t.Hops {
		b = append(b, h[:]...)
	}
	return wire.AppendUint32(b, t.Expires), nil
}

func readTunnel(r *wire.Reader) Tunnel {
	t := Tunnel{TunnelKey: readTunnelKey(r)}
	copy(t.Gateway[:], r.Bytes("gateway", i2p.HashLen))
	n := int(r.Uint8("hop count"))
	if n > MaxHops {
		r.Fail("hop count", fmt.Errorf("%w: %d hops", ErrInvalid, n))
		return t
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		var h i2p.Hash
		copy(h[:], r.Bytes("hop", i2p.HashLen))
		t.Hops = append(t.Hops, h)
	}
	t.Expires = r.Uint32("expires")
	return t
}

func (t Tunnel) clone() Tunnel {
	t.Hops = slices.Clone(t.Hops)
	return t
}

// ValidName reports whether s can name a router, frontend or destination: 1 to 64
// characters from [A-Za-z0-9._-], not starting with '.' or '-'.
func ValidName(s string) error {
	if len(s) == 0 {
		return fmt.Errorf("%w: empty name: names are 1..%d characters", ErrInvalid, maxNameLen)
	}
	if len(s) > maxNameLen {
		// Never echo an over-long name in full: it may be anything.
		return fmt.Errorf("%w: name %.20q... is %d bytes, names are at most %d characters", ErrInvalid, s, len(s), maxNameLen)
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || (i > 0 && (c == '.' || c == '-'))
		if !ok {
			return fmt.Errorf("%w: name %q: use letters, digits, '_', '.', '-'", ErrInvalid, s)
		}
	}
	return nil
}

// shortName is a name as errors print it: one longer than any valid name
// (it can only come from a bad request) is cut, never echoed in full.
func shortName(s string) string {
	if len(s) <= maxNameLen {
		return s
	}
	return fmt.Sprintf("%.20q...(%d bytes)", s, len(s))
}
