package routerproto

import "fmt"

// DisconnectError is why a connection ended because of a Disconnect: one
// the peer sent (Local false) or one this side sent (Local true).
type DisconnectError struct {
	Reason string
	Local  bool
}

// Error says who disconnected and why.
func (e *DisconnectError) Error() string {
	if e.Local {
		return "routerproto: disconnected peer: " + e.Reason
	}
	return "routerproto: peer disconnected: " + e.Reason
}

// SessionStatusError is a SessionStatus other than the one a call wanted
// (e.g. SessionRefused for CreateSession).
type SessionStatusError struct {
	SessionID uint16
	Status    SessionStatusCode
}

// Error names the session and the status.
func (e *SessionStatusError) Error() string {
	return fmt.Sprintf("routerproto: session %d: status %s", e.SessionID, e.Status)
}
