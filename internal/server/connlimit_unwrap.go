package server

import "net"

// NetConn returns the accepted connection under the limit's bookkeeping,
// so that the router's fast path can wait on it without a buffer
// (router.FastListener).
func (c *limitedConn) NetConn() net.Conn { return c.Conn }
