package config

import "time"

// Limits bound what clients can hold on the production and preview
// listeners (the admin listener has fixed limits of its own).
type Limits struct {
	// MaxConnections is the most client connections one listener keeps
	// open; 0 means no limit. At the limit, a new connection first takes
	// the place of the oldest one that has not sent a whole request (a
	// slow or idle client); when every connection is busy, it is refused.
	MaxConnections int `yaml:"max_connections"`
	// ReadHeaderTimeout is how long a client has to send a request's
	// headers; IdleTimeout how long a keep-alive connection may wait for
	// its next request.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
}

// defaultLimits: 10,000 connections (a goroutine and its buffers each,
// some 10–20 KiB idle) fit any machine bluegreen runs on; 10 s for
// headers is nginx's client_header_timeout (60 s) made stricter for a
// front door that slowloris clients must not hold; 2 m idle is past most
// load balancers' and browsers' keep-alive.
func defaultLimits() Limits {
	return Limits{
		MaxConnections:    10000,
		ReadHeaderTimeout: Duration(10 * time.Second),
		IdleTimeout:       Duration(2 * time.Minute),
	}
}

// limits checks the limits section.
func (v *validator) limits() {
	l := v.c.Limits
	if l.MaxConnections < 0 {
		v.at("limits.max_connections", "must be 0 (no limit) or more, got %d", l.MaxConnections)
	} else if l.MaxConnections > 0 && l.MaxConnections < 16 {
		v.at("limits.max_connections", "%d is too few to serve anyone under load; use 16 or more, or 0 for no limit", l.MaxConnections)
	}
	if l.ReadHeaderTimeout.D() <= 0 {
		v.at("limits.read_header_timeout", "must be greater than 0s: without it a client that never ends its headers holds a connection forever")
	}
	if l.IdleTimeout.D() <= 0 {
		v.at("limits.idle_timeout", "must be greater than 0s")
	}
}
