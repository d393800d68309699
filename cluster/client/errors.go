package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/imh-project/imh/cluster"
)

// Errors callers test with errors.Is. An answer of the agent maps to one by
// its ErrorBody.Code (or its status when the body is not the API's), and
// the error returned is an *APIError carrying the agent's own message.
var (
	ErrNoLeader        = errors.New("client: no leader")
	ErrNotFound        = errors.New("client: not found")
	ErrExists          = errors.New("client: exists")
	ErrInvalid         = errors.New("client: invalid request") // any 400
	ErrRefused         = errors.New("client: refused")         // a precondition does not hold (409 refused)
	ErrUnauthenticated = errors.New("client: no client certificate")
	ErrForbidden       = errors.New("client: certificate not allowed this call")
	// ErrNeedsTLS: the agent serves HTTPS and the client spoke HTTP.
	ErrNeedsTLS = errors.New("client: the agent serves HTTPS")
	// ErrUnreachable and ErrTimeout classify a *TransportError.
	ErrUnreachable = errors.New("client: agent unreachable")
	ErrTimeout     = errors.New("client: no answer in time")
	// ErrMalformed: a 2xx answer that does not decode. Its text is part
	// of the messages the CLI prints.
	ErrMalformed = errors.New("malformed answer")
	// ErrBadAddr: Config.Addr cannot be part of a URL, or ParseAddr's
	// input is neither H:P nor an http(s) URL of one.
	ErrBadAddr = errors.New("client: bad agent address")
	// ErrSchemeMismatch: ParseAddr was given https:// without TLS, or
	// http:// with it.
	ErrSchemeMismatch = errors.New("client: address scheme does not match the TLS setting")
)

// APIError is a non-2xx answer of the agent. Its message is the agent's.
type APIError struct {
	Status int
	Body   cluster.ErrorBody
	https  bool // the answer of an HTTPS server to plain HTTP
}

func (e *APIError) Error() string { return e.Body.Error }

// Is maps the answer to the package's sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNeedsTLS:
		return e.https
	case ErrInvalid:
		return e.Status == http.StatusBadRequest
	case ErrUnauthenticated:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNoLeader:
		return e.Body.Code == cluster.CodeNoLeader
	case ErrNotFound:
		return e.Body.Code == cluster.CodeNotFound || (e.Body.Code == "" && e.Status == http.StatusNotFound)
	case ErrExists:
		return e.Body.Code == cluster.CodeExists
	case ErrRefused:
		return e.Body.Code == cluster.CodeRefused
	}
	return false
}

// errorFrom turns a non-2xx answer into an *APIError, with a line of
// context on the kinds an operator needs explained.
func errorFrom(status int, raw []byte) error {
	e := &APIError{Status: status}
	if err := json.Unmarshal(raw, &e.Body); err != nil || e.Body.Error == "" {
		e.Body.Error = fmt.Sprintf("agent answered %d: %.200s", status, bytes.TrimSpace(raw))
	}
	e.https = status == http.StatusBadRequest && bytes.Contains(raw, []byte("HTTP request to an HTTPS server"))
	switch {
	case e.https:
		return e
	case e.Body.Code == cluster.CodeNoLeader:
		return fmt.Errorf("no leader: the cluster cannot take writes now (is a majority of agents up?): %w", e)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("refused by the agent (%d): %w", status, e)
	}
	return e
}

// TransportError is a call that got no answer: the agent was not reached,
// or (Timeout set) did not answer within Timeout.
type TransportError struct {
	Addr    string
	Timeout time.Duration
	Err     error
}

func (e *TransportError) Error() string {
	if e.Timeout > 0 {
		return fmt.Sprintf("agent at %s: no answer within %v", e.Addr, e.Timeout)
	}
	return fmt.Sprintf("agent at %s unreachable: %v", e.Addr, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Is makes a TransportError ErrTimeout or ErrUnreachable.
func (e *TransportError) Is(target error) bool {
	return (target == ErrTimeout && e.Timeout > 0) || (target == ErrUnreachable && e.Timeout == 0)
}
