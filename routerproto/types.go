package routerproto

import "strconv"

// Type is a message type number. Standard I2CP numbers are fixed by the I2CP
// specification (I2P-WIRE 4.1); extension numbers (ExtFirst and up) are
// imh's and are written down in PROTOCOL.md. Only append: never renumber.
type Type uint8

// Standard I2CP message types (I2P-WIRE 4.1).
const (
	TypeCreateSession           Type = 1
	TypeReconfigureSession      Type = 2
	TypeDestroySession          Type = 3
	TypeSendMessage             Type = 5
	TypeGetBandwidthLimits      Type = 8
	TypeSessionStatus           Type = 20
	TypeMessageStatus           Type = 22
	TypeBandwidthLimits         Type = 23
	TypeDisconnect              Type = 30
	TypeMessagePayload          Type = 31
	TypeGetDate                 Type = 32
	TypeSetDate                 Type = 33
	TypeSendMessageExpires      Type = 36
	TypeRequestVariableLeaseSet Type = 37
	TypeHostLookup              Type = 38
	TypeHostReply               Type = 39
	TypeCreateLeaseSet2         Type = 41
)

// ExtFirst is the first extension type number. Everything from here up is
// an imh extension; a stock router never receives one (the handshake decides).
const ExtFirst Type = 200

// Extension message types (PROTOCOL.md).
const (
	TypeCapabilities   Type = 200 // R→C, handshake: supported extensions
	TypeGetFastTier    Type = 201 // C→R
	TypePeerList       Type = 202 // R→C, answers GetFastTier
	TypeCreateTunnel   Type = 203 // C→R
	TypeTunnelStatus   Type = 204 // R→C, answers CreateTunnel or unsolicited (request id 0)
	TypeGetTunnelPool  Type = 205 // C→R
	TypeTunnelList     Type = 206 // R→C, answers GetTunnelPool
	TypeSendVia        Type = 207 // C→R
	TypePayloadFrom    Type = 208 // R→C, precedes a MessagePayload
	TypeLeaseSetStatus Type = 209 // R→C, after CreateLeaseSet2
	TypeNeedLeaseSet   Type = 210 // R→C
)

// IsExtension reports whether t is in the extension block.
func (t Type) IsExtension() bool { return t >= ExtFirst }

var typeNames = map[Type]string{
	TypeCreateSession:           "CreateSession",
	TypeReconfigureSession:      "ReconfigureSession",
	TypeDestroySession:          "DestroySession",
	TypeSendMessage:             "SendMessage",
	TypeGetBandwidthLimits:      "GetBandwidthLimits",
	TypeSessionStatus:           "SessionStatus",
	TypeMessageStatus:           "MessageStatus",
	TypeBandwidthLimits:         "BandwidthLimits",
	TypeDisconnect:              "Disconnect",
	TypeMessagePayload:          "MessagePayload",
	TypeGetDate:                 "GetDate",
	TypeSetDate:                 "SetDate",
	TypeSendMessageExpires:      "SendMessageExpires",
	TypeRequestVariableLeaseSet: "RequestVariableLeaseSet",
	TypeHostLookup:              "HostLookup",
	TypeHostReply:               "HostReply",
	TypeCreateLeaseSet2:         "CreateLeaseSet2",
	TypeCapabilities:            "Capabilities",
	TypeGetFastTier:             "GetFastTier",
	TypePeerList:                "PeerList",
	TypeCreateTunnel:            "CreateTunnel",
	TypeTunnelStatus:            "TunnelStatus",
	TypeGetTunnelPool:           "GetTunnelPool",
	TypeTunnelList:              "TunnelList",
	TypeSendVia:                 "SendVia",
	TypePayloadFrom:             "PayloadFrom",
	TypeLeaseSetStatus:          "LeaseSetStatus",
	TypeNeedLeaseSet:            "NeedLeaseSet",
}

// String is the message name, or type(N) for unknown numbers.
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// SessionStatusCode is the status byte of SessionStatus (I2P-WIRE 4.7).
type SessionStatusCode uint8

// Session status codes.
const (
	SessionDestroyed SessionStatusCode = 0
	SessionCreated   SessionStatusCode = 1
	SessionUpdated   SessionStatusCode = 2
	SessionInvalid   SessionStatusCode = 3
	SessionRefused   SessionStatusCode = 4
)

// String is the status name of I2P-WIRE 4.7.
func (s SessionStatusCode) String() string {
	switch s {
	case SessionDestroyed:
		return "destroyed"
	case SessionCreated:
		return "created"
	case SessionUpdated:
		return "updated"
	case SessionInvalid:
		return "invalid"
	case SessionRefused:
		return "refused"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// NoSession is the SessionId meaning "no session" (HostLookup without one).
const NoSession uint16 = 0xFFFF

// MessageStatusCode is the status byte of MessageStatus (I2P-WIRE 4.13).
type MessageStatusCode uint8

// Message status codes used by imh (the full list is in I2P-WIRE 4.13).
const (
	MsgAvailable             MessageStatusCode = 0
	MsgAccepted              MessageStatusCode = 1
	MsgBestEffortSuccess     MessageStatusCode = 2
	MsgBestEffortFailure     MessageStatusCode = 3
	MsgGuaranteedSuccess     MessageStatusCode = 4
	MsgGuaranteedFailure     MessageStatusCode = 5
	MsgLocalSuccess          MessageStatusCode = 6
	MsgLocalFailure          MessageStatusCode = 7
	MsgRouterFailure         MessageStatusCode = 8
	MsgNetworkFailure        MessageStatusCode = 9
	MsgBadSession            MessageStatusCode = 10
	MsgBadMessage            MessageStatusCode = 11
	MsgBadOptions            MessageStatusCode = 12
	MsgOverflow              MessageStatusCode = 13
	MsgExpired               MessageStatusCode = 14
	MsgBadLocalLeaseSet      MessageStatusCode = 15
	MsgNoLocalTunnels        MessageStatusCode = 16
	MsgUnsupportedEncryption MessageStatusCode = 17
	MsgBadDestination        MessageStatusCode = 18
	MsgBadLeaseSet           MessageStatusCode = 19
	MsgExpiredLeaseSet       MessageStatusCode = 20
	MsgNoLeaseSet            MessageStatusCode = 21
	MsgMetaLeaseSet          MessageStatusCode = 22
	MsgLoopbackDenied        MessageStatusCode = 23
)

// Success reports whether the status means delivered or accepted (1, 2, 4, 6).
func (s MessageStatusCode) Success() bool {
	return s == MsgAccepted || s == MsgBestEffortSuccess || s == MsgGuaranteedSuccess || s == MsgLocalSuccess
}
