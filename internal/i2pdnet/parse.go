package i2pdnet

import (
	"errors"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/imh-project/imh/i2p"
)

// ErrBadPage reports console HTML that does not have the layout of i2pd
// 2.45.1 (testdata/*-2.45.1.html are real pages).
var ErrBadPage = errors.New("i2pdnet: unexpected console page layout")

// consoleTimeLayout is i2pd's ConvertTime format (the router's local time).
const consoleTimeLayout = "02/01/2006 15:04:05.000"

// LeaseSetInfo is one entry of a router's /?page=leasesets (a floodfill's
// store).
type LeaseSetInfo struct {
	// B32 is the destination's address, "<52 chars>.b32.i2p" (the page
	// shows it without the suffix); Hash is the same as a hash.
	B32  string
	Hash i2p.Hash
	// StoreType is the netDb store type (1 LeaseSet, 3 LeaseSet2, ...).
	StoreType int
	// Expires is the LeaseSet's expiry as the page shows it (local time,
	// millisecond precision).
	Expires time.Time
	// Expired and Invalid are the page's markers for such LeaseSets.
	Expired bool
	Invalid bool
	// Leases is the page's "Non Expired Leases" count; Gateways, Tunnels
	// and LeaseEnds describe those leases in order (listed for store types
	// 1 and 3 only).
	Leases    int
	Gateways  []i2p.Hash
	Tunnels   []uint32
	LeaseEnds []time.Time
}

var (
	lsSplit     = `<div class="leaseset listitem`
	lsLabelRE   = regexp.MustCompile(`<label for="slide[0-9]+">([a-z2-7]{52})</label>`)
	lsStoreRE   = regexp.MustCompile(`<b>Store type:</b> ([0-9]+)<br>`)
	lsExpiresRE = regexp.MustCompile(`<b>Expires:</b> ([0-9/: .]+)<br>`)
	lsLeasesRE  = regexp.MustCompile(`<b>Non Expired Leases: ([0-9]+)</b>`)
	lsGatewayRE = regexp.MustCompile(`<b>Gateway:</b> ([A-Za-z0-9~=-]+)<br>`)
	lsTunnelRE  = regexp.MustCompile(`<b>TunnelID:</b> ([0-9]+)<br>`)
	lsEndRE     = regexp.MustCompile(`<b>EndDate:</b> ([0-9/: .]+)<br>`)
	lsCountRE   = regexp.MustCompile(`<b>LeaseSets:</b>`)
)

// ParseLeaseSets parses the HTML of i2pd 2.45.1's /?page=leasesets. Times
// are read in loc (the router's time zone; time.Local for routers started
// by this package).
func ParseLeaseSets(page string, loc *time.Location) ([]LeaseSetInfo, error) {
	if !lsCountRE.MatchString(page) {
		return nil, fmt.Errorf("%w: no LeaseSets heading", ErrBadPage)
	}
	chunks := strings.Split(page, lsSplit)
	var out []LeaseSetInfo
	for i, c := range chunks[1:] {
		ls, err := parseLeaseSet(c, loc)
		if err != nil {
			return nil, fmt.Errorf("leaseset entry %d: %w", i, err)
		}
		out = append(out, ls)
	}
	return out, nil
}

func parseLeaseSet(c string, loc *time.Location) (LeaseSetInfo, error) {
	var ls LeaseSetInfo
	ls.Expired = strings.HasPrefix(c, " expired")
	ls.Invalid = strings.Contains(c, `<div class="invalid">`)
	m := lsLabelRE.FindStringSubmatch(c)
	if m == nil {
		return ls, fmt.Errorf("%w: no b32 label", ErrBadPage)
	}
	h, err := i2p.ParseB32(m[1])
	if err != nil {
		return ls, fmt.Errorf("%w: %w", ErrBadPage, err)
	}
	ls.Hash, ls.B32 = h, h.B32()
	if ls.StoreType, err = atoiMatch(lsStoreRE, c, "store type"); err != nil {
		return ls, err
	}
	if m := lsExpiresRE.FindStringSubmatch(c); m != nil {
		if ls.Expires, err = time.ParseInLocation(consoleTimeLayout, strings.TrimSpace(m[1]), loc); err != nil {
			return ls, fmt.Errorf("%w: expires: %w", ErrBadPage, err)
		}
	}
	if !lsLeasesRE.MatchString(c) {
		return ls, nil // no lease details for this store type
	}
	if ls.Leases, err = atoiMatch(lsLeasesRE, c, "leases"); err != nil {
		return ls, err
	}
	for _, m := range lsGatewayRE.FindAllStringSubmatch(c, -1) {
		g, err := parseHashBase64(m[1])
		if err != nil {
			return ls, fmt.Errorf("%w: gateway: %w", ErrBadPage, err)
		}
		ls.Gateways = append(ls.Gateways, g)
	}
	for _, m := range lsTunnelRE.FindAllStringSubmatch(c, -1) {
		id, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil {
			return ls, fmt.Errorf("%w: tunnel id %q", ErrBadPage, m[1])
		}
		ls.Tunnels = append(ls.Tunnels, uint32(id))
	}
	for _, m := range lsEndRE.FindAllStringSubmatch(c, -1) {
		t, err := time.ParseInLocation(consoleTimeLayout, strings.TrimSpace(m[1]), loc)
		if err != nil {
			return ls, fmt.Errorf("%w: lease end: %w", ErrBadPage, err)
		}
		ls.LeaseEnds = append(ls.LeaseEnds, t)
	}
	if len(ls.Gateways) != ls.Leases || len(ls.Tunnels) != ls.Leases || len(ls.LeaseEnds) != ls.Leases {
		return ls, fmt.Errorf("%w: %d leases but %d gateways, %d tunnel ids, %d end dates",
			ErrBadPage, ls.Leases, len(ls.Gateways), len(ls.Tunnels), len(ls.LeaseEnds))
	}
	return ls, nil
}

// parseHashBase64 decodes the 44-character I2P base64 form of a hash.
func parseHashBase64(s string) (i2p.Hash, error) {
	var h i2p.Hash
	b, err := i2p.Base64.DecodeString(s)
	if err != nil {
		return h, fmt.Errorf("base64 %q: %w", s, err)
	}
	if len(b) != len(h) {
		return h, fmt.Errorf("base64 %q: %d bytes, want %d", s, len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

func atoiMatch(re *regexp.Regexp, s, what string) (int, error) {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%w: no %s", ErrBadPage, what)
	}
	v, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q", ErrBadPage, what, m[1])
	}
	return v, nil
}

// TunnelInfo is one tunnel of a router's /?page=tunnels (all of the
// router's tunnels: exploratory and those of its local destinations).
type TunnelInfo struct {
	Inbound bool
	// ID is the tunnel id at this router's end.
	ID uint32
	// Hops are the other routers, in path order, as the page abbreviates
	// them: the first 4 characters of the I2P base64 identity hash (see
	// Net.RouterByAbbrev). Zero-hop tunnels have none.
	Hops []string
	// State is i2pd's state word: established, building, failed,
	// expiring, ...
	State       string
	Exploratory bool
}

var (
	tunItemRE    = regexp.MustCompile(`<div class="listitem">(.*?)<span class="tunnel ([a-z_-]+)">([^<]*)</span>`)
	tunLatencyRE = regexp.MustCompile(`\(\s*[0-9]+ms\s*\)`)
	tunIDRE      = regexp.MustCompile(`^([0-9]+):me$`)
	abbrevRE     = regexp.MustCompile(`^[A-Za-z0-9~-]{4}$`)
)

// ParseTunnels parses the HTML of i2pd 2.45.1's /?page=tunnels.
func ParseTunnels(page string) ([]TunnelInfo, error) {
	inStart := strings.Index(page, "<b>Inbound tunnels:</b>")
	outStart := strings.Index(page, "<b>Outbound tunnels:</b>")
	if inStart < 0 || outStart < inStart {
		return nil, fmt.Errorf("%w: no inbound/outbound tunnel lists", ErrBadPage)
	}
	in, err := parseTunnelList(page[inStart:outStart], true)
	if err != nil {
		return nil, err
	}
	out, err := parseTunnelList(page[outStart:], false)
	if err != nil {
		return nil, err
	}
	return append(in, out...), nil
}

func parseTunnelList(s string, inbound bool) ([]TunnelInfo, error) {
	var ts []TunnelInfo
	for _, m := range tunItemRE.FindAllStringSubmatch(s, -1) {
		t := TunnelInfo{Inbound: inbound, State: m[2], Exploratory: strings.Contains(m[3], "exploratory")}
		path := tunLatencyRE.ReplaceAllString(m[1], "")
		var haveID bool
		for _, tok := range strings.Split(path, "&#8658;") {
			tok = strings.TrimSpace(tok)
			switch {
			case tok == "":
			case tunIDRE.MatchString(tok):
				id, err := strconv.ParseUint(tunIDRE.FindStringSubmatch(tok)[1], 10, 32)
				if err != nil {
					return nil, fmt.Errorf("%w: tunnel id %q", ErrBadPage, tok)
				}
				t.ID, haveID = uint32(id), true
			case abbrevRE.MatchString(tok):
				t.Hops = append(t.Hops, tok)
			default:
				return nil, fmt.Errorf("%w: tunnel path token %q", ErrBadPage, tok)
			}
		}
		if !haveID {
			return nil, fmt.Errorf("%w: tunnel without id: %q", ErrBadPage, m[1])
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// TransportSession is one established session of a router's
// /?page=transports.
type TransportSession struct {
	// Transport is the section: NTCP2, SSU2, ...
	Transport string
	// Peer is the remote router's abbreviated hash (see TunnelInfo.Hops).
	Peer string
	// Remote is the remote endpoint, ip:port.
	Remote string
	// Outgoing is true if this router opened the session.
	Outgoing bool
	// Sent and Received are byte counts.
	Sent, Received uint64
}

var (
	trSectionRE = regexp.MustCompile(`<label for='slide_[a-z0-9]+'><b>([A-Za-z0-9]+)</b>`)
	trItemRE    = regexp.MustCompile(`<div class="listitem">\s*(&#8658;)?\s*([A-Za-z0-9~-]{4}): ([0-9a-fA-F.:\[\]]+)\s*(&#8658;)?\s*\[([0-9]+):([0-9]+)\]`)
)

// ParseTransports parses the HTML of i2pd 2.45.1's /?page=transports.
func ParseTransports(page string) ([]TransportSession, error) {
	if !strings.Contains(page, "<b>Transports:</b>") {
		return nil, fmt.Errorf("%w: no Transports heading", ErrBadPage)
	}
	secs := trSectionRE.FindAllStringSubmatchIndex(page, -1)
	var out []TransportSession
	for i, sec := range secs {
		name := page[sec[2]:sec[3]]
		end := len(page)
		if i+1 < len(secs) {
			end = secs[i+1][0]
		}
		for _, m := range trItemRE.FindAllStringSubmatch(page[sec[1]:end], -1) {
			sent, _ := strconv.ParseUint(m[5], 10, 64)
			recv, _ := strconv.ParseUint(m[6], 10, 64)
			out = append(out, TransportSession{
				Transport: name,
				Peer:      m[2],
				Remote:    html.UnescapeString(m[3]),
				Outgoing:  m[1] != "",
				Sent:      sent,
				Received:  recv,
			})
		}
	}
	return out, nil
}
