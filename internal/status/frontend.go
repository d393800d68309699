package status

import "time"

// Frontend is an operator-added frontend (multi-client mode) with the
// leader's live view of it: the figures are what it last reported.
type Frontend struct {
	Name   string `json:"name"`
	Addr   string `json:"addr"`
	Router string `json:"router"`
	// State is up while the leader holds a link to it, down when it has
	// none, unknown when no leader's view could be had (as for routers).
	State        string             `json:"state"`
	Error        string             `json:"error,omitempty"`
	Destinations []FrontendDestLive `json:"destinations"`
}

// FrontendLive is the leader's live view of one frontend.
type FrontendLive struct {
	State        string
	Router       string
	Error        string
	Destinations []FrontendDestLive
}

// FrontendDestLive is one destination a frontend serves, as it reported:
// whether its data attachment to the router is up, whether the backend
// answered the last connect, when its transient key expires, and its
// streams since the frontend started.
type FrontendDestLive struct {
	Name       string    `json:"name"`
	Attached   bool      `json:"attached"`
	BackendUp  bool      `json:"backend_up"`
	KeyExpires time.Time `json:"key_expires"`
	Open       uint64    `json:"open"`
	Accepted   uint64    `json:"accepted"`
	Refused    uint64    `json:"refused"`
	BytesIn    uint64    `json:"bytes_in"`
	BytesOut   uint64    `json:"bytes_out"`
	Errors     uint64    `json:"errors"`
	LastError  string    `json:"last_error,omitempty"`
}
