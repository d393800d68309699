package routerproto

import (
	"fmt"

	"github.com/imh-project/imh/internal/wire"
)

// decoders is the type table Decode dispatches on.
var decoders = map[Type]func(*wire.Reader) (Message, error){
	TypeCreateSession:           decodeCreateSession,
	TypeReconfigureSession:      decodeReconfigureSession,
	TypeDestroySession:          decodeDestroySession,
	TypeSendMessage:             decodeSendMessage,
	TypeGetBandwidthLimits:      decodeGetBandwidthLimits,
	TypeSessionStatus:           decodeSessionStatus,
	TypeMessageStatus:           decodeMessageStatus,
	TypeBandwidthLimits:         decodeBandwidthLimits,
	TypeDisconnect:              decodeDisconnect,
	TypeMessagePayload:          decodeMessagePayload,
	TypeGetDate:                 decodeGetDate,
	TypeSetDate:                 decodeSetDate,
	TypeSendMessageExpires:      decodeSendMessageExpires,
	TypeRequestVariableLeaseSet: decodeRequestVariableLeaseSet,
	TypeHostLookup:              decodeHostLookup,
	TypeHostReply:               decodeHostReply,
	TypeCreateLeaseSet2:         decodeCreateLeaseSet2,
	TypeCapabilities:            decodeCapabilities,
	TypeGetFastTier:             decodeGetFastTier,
	TypePeerList:                decodePeerList,
	TypeCreateTunnel:            decodeCreateTunnel,
	TypeTunnelStatus:            decodeTunnelStatus,
	TypeGetTunnelPool:           decodeGetTunnelPool,
	TypeTunnelList:              decodeTunnelList,
	TypeSendVia:                 decodeSendVia,
	TypePayloadFrom:             decodePayloadFrom,
	TypeLeaseSetStatus:          decodeLeaseSetStatus,
	TypeNeedLeaseSet:            decodeNeedLeaseSet,
}

// Decode turns a frame body into a typed message. It is pure and total:
// every input gives a message or an error (wrapping ErrMalformed or a more
// precise sentinel), never a panic. A type it does not know gives an
// *Unknown holding a copy of the body, together with ErrUnknownType, so the
// caller chooses to skip or refuse it. Decoded messages do not alias body.
func Decode(t Type, body []byte) (Message, error) {
	if len(body) > MaxBodyLen {
		return nil, fmt.Errorf("%w: %s body of %d bytes", ErrFrameTooLarge, t, len(body))
	}
	dec, ok := decoders[t]
	if !ok {
		return &Unknown{T: t, Body: append([]byte(nil), body...)}, fmt.Errorf("%w: %d", ErrUnknownType, t)
	}
	m, err := dec(wire.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, t, err)
	}
	return m, nil
}
