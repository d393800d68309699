package observe

import (
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
