package observe

import (
	"fmt"
	"strings"
	"time"

	"github.com/imh-project/imh/i2p"
)

// Inspection is what an observer learns from one LeaseSet2 on its own:
// the `imh leaseset inspect --json` object (docs/cli.md), whose field
// names are a contract.
type Inspection struct {
	B32            string          `json:"b32"`
	SigType        uint16          `json:"sig_type"`
	Published      uint32          `json:"published"`
	Expires        uint32          `json:"expires"`
	Flags          uint16          `json:"flags"`
	EncKeyTypes    []uint16        `json:"enc_key_types"`
	Leases         []InspectLease  `json:"leases"`
	SignatureValid bool            `json:"signature_valid"`
	Offline        *InspectOffline `json:"offline"`
	TimeStatus     i2p.TimeStatus  `json:"time_status"`

	VerifyErr error          `json:"-"` // why SignatureValid is false
	LeaseSet  *i2p.LeaseSet2 `json:"-"` // what was inspected (for a human form)
}

// InspectLease is one lease of an Inspection.
type InspectLease struct {
	Gateway string `json:"gateway"`
	Tunnel  uint32 `json:"tunnel"`
	End     uint32 `json:"end"`
}

// InspectOffline is the offline signature block of an Inspection.
type InspectOffline struct {
	Expires          uint32 `json:"expires"`
	TransientSigType uint16 `json:"transient_sig_type"`
}

// Inspect gathers what ls shows. The signature check ignores time (a
// captured LeaseSet stays verifiable after it expired); TimeStatus reports
// time against now separately. Empty lists are empty, not null, in JSON.
func Inspect(ls *i2p.LeaseSet2, now time.Time) Inspection {
	v := Inspection{
		B32:         ls.Destination.B32(),
		SigType:     uint16(ls.Destination.SigType()),
		Published:   ls.Published,
		Expires:     ls.ExpiresAt(),
		Flags:       ls.Flags,
		EncKeyTypes: []uint16{},
		Leases:      []InspectLease{},
		TimeStatus:  ls.TimeStatus(now),
		LeaseSet:    ls,
	}
	for _, k := range ls.Keys {
		v.EncKeyTypes = append(v.EncKeyTypes, uint16(k.Type))
	}
	for _, l := range ls.Leases {
		v.Leases = append(v.Leases, InspectLease{Gateway: l.Gateway.String(), Tunnel: l.TunnelID, End: l.End})
	}
	if o := ls.Offline; o != nil {
		v.Offline = &InspectOffline{Expires: o.Expires, TransientSigType: uint16(o.TransientType)}
	}
	v.VerifyErr = ls.Verify()
	v.SignatureValid = v.VerifyErr == nil
	return v
}

// Fields is the human form of `imh leaseset inspect` (docs/cli.md), as
// ordered key and value pairs for aligned "key: value" lines: times as
// seconds and RFC 3339, types as numbers and names, one line per lease.
func (v Inspection) Fields() [][2]string {
	ts := func(s uint32) string {
		return fmt.Sprintf("%d (%s)", s, time.Unix(int64(s), 0).UTC().Format(time.RFC3339))
	}
	var keys []string
	for _, k := range v.LeaseSet.Keys {
		keys = append(keys, fmt.Sprintf("%d (%s)", uint16(k.Type), k.Type))
	}
	f := [][2]string{
		{"b32", v.B32},
		{"sig_type", fmt.Sprintf("%d (%s)", v.SigType, v.LeaseSet.Destination.SigType())},
		{"published", ts(v.Published)},
		{"expires", ts(v.Expires)},
		{"flags", fmt.Sprintf("%d", v.Flags)},
		{"enc_key_types", strings.Join(keys, ", ")},
		{"leases", fmt.Sprint(len(v.Leases))},
	}
	for i, l := range v.Leases {
		f = append(f, [2]string{fmt.Sprintf("lease[%d]", i),
			fmt.Sprintf("gateway %s tunnel %d end %s", l.Gateway, l.Tunnel, ts(l.End))})
	}
	off := "none"
	if o := v.Offline; o != nil {
		off = fmt.Sprintf("transient sig type %d (%s), expires %s", o.TransientSigType, i2p.SigType(o.TransientSigType), ts(o.Expires))
	}
	valid := "true"
	if !v.SignatureValid {
		valid = fmt.Sprintf("false (%v)", v.VerifyErr)
	}
	return append(f,
		[2]string{"offline", off},
		[2]string{"signature_valid", valid},
		[2]string{"time_status", string(v.TimeStatus)})
}
