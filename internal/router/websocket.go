package router

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A proxied WebSocket is two byte streams that httputil.ReverseProxy
// copies after the 101 answer: client → backend through the backend
// connection's Write, backend → client through the hijacked client
// connection's Write. The router hands ReverseProxy wrappers of both
// connections (wsBackendConn from ModifyResponse, wsClientConn from
// Hijack) that follow the frames written in each direction. Ending the
// stream (endStream) then sends a close frame 1001 (going away) to the
// client at the next boundary between two server frames, and a masked one
// to the backend at the next boundary between two client frames; later
// frames are dropped. Each connection is closed once its peer answered the
// close (the client's close frame; the backend's close frame), or at the
// end of the grace period: the router closes, neither side gets a reset.

// WebSocket close frame 1001 and its reason.
const (
	wsCloseGoingAway = 1001
	wsCloseReason    = "bluegreen: draining"
	wsOpClose        = 0x8
)

// isWebSocketUpgrade reports whether req asks to switch to WebSocket.
func isWebSocketUpgrade(req *http.Request) bool {
	up := req.Header["Upgrade"]
	if len(up) == 0 || !strings.EqualFold(strings.TrimSpace(up[0]), "websocket") {
		return false
	}
	for _, v := range req.Header["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// wsConn is one proxied WebSocket connection.
type wsConn struct {
	s     *slotState
	ri    *requestInfo
	grace time.Duration

	toClient  wsDir // backend → client: server frames, unmasked
	toBackend wsDir // client → backend: client frames, masked

	client  *wsSide
	backend *wsSide

	ending   atomic.Bool
	attached atomic.Bool // both sides are known and the ender registered
	counted  atomic.Bool // outcome counted
	timerMu  sync.Mutex
	timer    *time.Timer
}

var _ streamEnder = (*wsConn)(nil)

// wsSide is one of the two connections of a wsConn.
type wsSide struct {
	c         io.Closer
	closeOnce sync.Once
	done      chan struct{} // closed once the connection is closed
	readEnded atomic.Bool
}

func newWSSide() *wsSide { return &wsSide{done: make(chan struct{})} }

// close closes the connection once.
func (sd *wsSide) close() {
	sd.closeOnce.Do(func() {
		if sd.c != nil {
			_ = sd.c.Close()
		}
		close(sd.done)
	})
}

// newWebSocket prepares the proxying of a WebSocket upgrade request: the
// returned ResponseWriter hands ReverseProxy a wrapped client connection
// when it hijacks it.
func (r *Router) newWebSocket(w http.ResponseWriter, s *slotState, ri *requestInfo) http.ResponseWriter {
	ws := &wsConn{s: s, ri: ri, grace: r.streamGrace, client: newWSSide(), backend: newWSSide()}
	ws.toClient.close = wsCloseFrame(false)
	ws.toBackend.close = wsCloseFrame(true)
	ws.toClient.onClose = ws.sentToClient
	ri.ws = ws
	return &wsResponseWriter{ResponseWriter: w, ws: ws}
}

// attachBackend takes over the backend connection of a 101 answer.
func (ws *wsConn) attachBackend(resp *http.Response) {
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return
	}
	ws.backend.c = rwc
	ws.toBackend.dst = rwc
	resp.Body = &wsBackendConn{rwc: rwc, ws: ws}
}

// attachClient takes over the hijacked client connection; from then on the
// router's cancellation ends the WebSocket with close frames.
func (ws *wsConn) attachClient(conn net.Conn, br *bufio.Reader) net.Conn {
	ws.client.c = conn
	ws.toClient.dst = conn
	if ws.backend.c == nil {
		// Not a 101 from the backend through attachBackend: plain copy.
		return conn
	}
	ws.s.streams.open[streamWebSocket].Add(1)
	ws.attached.Store(true)
	ws.ri.ep.setEnder(ws.ri.reg, ws)
	return &wsClientConn{Conn: conn, br: br, ws: ws}
}

// endStream starts the close handshake with both peers.
func (ws *wsConn) endStream(error) {
	if !ws.attached.Load() || !ws.ending.CompareAndSwap(false, true) {
		return
	}
	ws.timerMu.Lock()
	ws.timer = time.AfterFunc(ws.grace, ws.force)
	ws.timerMu.Unlock()
	go func() {
		if err := ws.toClient.startClose(); err != nil {
			ws.client.close()
		}
		if err := ws.toBackend.startClose(); err != nil {
			ws.backend.close()
		}
		ws.progress()
	}()
}

// progress closes each connection whose close handshake is over: the
// client's once it got our close frame and answered with its own (the
// server closes first), the backend's once it answered ours; or either
// once its peer stopped sending.
func (ws *wsConn) progress() {
	if !ws.ending.Load() {
		return
	}
	if (ws.toClient.sent.Load() && ws.toBackend.srcClosed.Load()) || ws.client.readEnded.Load() {
		ws.client.close()
	}
	if (ws.toBackend.sent.Load() && ws.toClient.srcClosed.Load()) || ws.backend.readEnded.Load() {
		ws.backend.close()
	}
	select {
	case <-ws.client.done:
		select {
		case <-ws.backend.done:
			ws.stopTimer()
		default:
		}
	default:
	}
}

// force closes both connections at the end of the grace period.
func (ws *wsConn) force() {
	ws.count()
	ws.client.close()
	ws.backend.close()
}

func (ws *wsConn) stopTimer() {
	ws.timerMu.Lock()
	if ws.timer != nil {
		ws.timer.Stop()
	}
	ws.timerMu.Unlock()
}

// sentToClient is called when our close frame went to the client.
func (ws *wsConn) sentToClient() { ws.count() }

// count counts the outcome once: drained when the client got a close
// frame, cut otherwise.
func (ws *wsConn) count() {
	if !ws.counted.CompareAndSwap(false, true) {
		return
	}
	o := outcomeCut
	if ws.toClient.sent.Load() {
		o = outcomeDrained
	}
	ws.s.streams.ended[streamWebSocket][o].Add(1)
}

// waitClosed waits, while ending, until sd is closed or the grace period
// ends.
func (ws *wsConn) waitClosed(sd *wsSide) {
	if !ws.ending.Load() {
		return
	}
	t := time.NewTimer(ws.grace)
	defer t.Stop()
	select {
	case <-sd.done:
	case <-t.C:
		ws.force()
	}
}

// readErr notes that a side stopped sending; while ending, any read error
// is a normal end of the stream.
func (ws *wsConn) readErr(sd *wsSide, err error) error {
	if err == nil {
		return nil
	}
	sd.readEnded.Store(true)
	if ws.ending.Load() {
		ws.progress()
		return io.EOF
	}
	return err
}

// wsResponseWriter hands ReverseProxy a wrapped client connection when it
// hijacks it for a protocol switch.
type wsResponseWriter struct {
	http.ResponseWriter
	ws *wsConn
}

func (w *wsResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return w.ws.attachClient(conn, brw.Reader), brw, nil
}

// Unwrap lets http.ResponseController reach the server's writer (Flush).
func (w *wsResponseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wsClientConn is the hijacked client connection as ReverseProxy sees it.
type wsClientConn struct {
	net.Conn
	br     *bufio.Reader // bytes the client sent right after the request
	ws     *wsConn
	closed atomic.Bool
}

func (c *wsClientConn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p[:min(len(p), c.br.Buffered())])
		}
		c.br = nil
	}
	n, err := c.Conn.Read(p)
	return n, c.ws.readErr(c.ws.client, err)
}

func (c *wsClientConn) Write(p []byte) (int, error) {
	n, err := c.ws.toClient.write(p)
	c.ws.progress()
	return n, err
}

// Close waits, while ending, for the close handshake with the client
// (bounded by the grace period), then closes the connection.
func (c *wsClientConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	c.ws.waitClosed(c.ws.client)
	c.ws.client.close()
	c.ws.stopTimerIfDone()
	if c.ws.ending.Load() {
		c.ws.count()
	}
	c.ws.s.streams.open[streamWebSocket].Add(-1)
	return nil
}

// stopTimerIfDone stops the grace timer once both sides are closed.
func (ws *wsConn) stopTimerIfDone() {
	select {
	case <-ws.client.done:
	default:
		return
	}
	select {
	case <-ws.backend.done:
		ws.stopTimer()
	default:
	}
}

// wsBackendConn is the backend connection as ReverseProxy sees it.
type wsBackendConn struct {
	rwc io.ReadWriteCloser
	ws  *wsConn
}

func (c *wsBackendConn) Read(p []byte) (int, error) {
	n, err := c.rwc.Read(p)
	return n, c.ws.readErr(c.ws.backend, err)
}

func (c *wsBackendConn) Write(p []byte) (int, error) {
	n, err := c.ws.toBackend.write(p)
	c.ws.progress()
	return n, err
}

// Close waits, while ending, for the backend's answer to our close frame
// (bounded by the grace period), then closes the connection.
func (c *wsBackendConn) Close() error {
	c.ws.waitClosed(c.ws.backend)
	c.ws.backend.close()
	c.ws.stopTimerIfDone()
	return nil
}

// wsDir is one direction of a WebSocket: the frames its source writes are
// followed, so that the router can put its own close frame between two of
// them.
type wsDir struct {
	mu      sync.Mutex
	dst     io.Writer
	parse   wsParser
	close   []byte // the close frame the router sends to dst
	pending bool   // send close at the next frame boundary
	ours    bool   // the router's close frame went out: drop what follows
	onClose func() // called when the router's close frame went out

	// sent: dst got a close frame (the router's, or the source's own).
	// srcClosed: the source's close frame went through completely.
	sent      atomic.Bool
	srcClosed atomic.Bool
}

// write forwards p, frames from the source, to dst.
func (d *wsDir) write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// The loop runs once more when p ended the frame a pending close waits
	// for, so that the close goes now and not with the source's next write,
	// which may never come.
	for n := 0; n < len(p) || (d.pending && !d.ours && d.parse.atBoundary()); {
		if d.ours {
			m, ended, op := d.parse.advance(p[n:])
			n += m
			if ended && op == wsOpClose {
				d.srcClosed.Store(true)
			}
			continue
		}
		if d.pending && d.parse.atBoundary() {
			if d.sent.Load() {
				// The source's own close frame went first.
				d.pending = false
				continue
			}
			if err := d.sendCloseLocked(); err != nil {
				return n, err
			}
			continue
		}
		// Forward up to the next frame boundary when a close is pending,
		// else all of p at once, noting a close frame of the source.
		end := n
		for end < len(p) {
			m, ended, op := d.parse.advance(p[end:])
			end += m
			if ended && op == wsOpClose {
				d.srcClosed.Store(true)
				d.sent.Store(true)
			}
			if ended && d.pending {
				break
			}
		}
		if _, err := d.dst.Write(p[n:end]); err != nil {
			return n, err
		}
		n = end
	}
	return len(p), nil
}

// startClose sends the close frame now if the direction is between
// frames, else at the next boundary.
func (d *wsDir) startClose() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sent.Load() || d.dst == nil {
		return nil
	}
	if d.parse.atBoundary() {
		return d.sendCloseLocked()
	}
	d.pending = true
	return nil
}

func (d *wsDir) sendCloseLocked() error {
	d.pending = false
	d.ours = true
	d.sent.Store(true)
	if _, err := d.dst.Write(d.close); err != nil {
		return err
	}
	if d.onClose != nil {
		d.onClose()
	}
	return nil
}

// wsCloseFrame returns a close frame 1001 with wsCloseReason; masked (with
// a random key) when a client sends it.
func wsCloseFrame(masked bool) []byte {
	payload := binary.BigEndian.AppendUint16(nil, wsCloseGoingAway)
	payload = append(payload, wsCloseReason...)
	frame := []byte{0x80 | wsOpClose, byte(len(payload))}
	if masked {
		var key [4]byte
		_, _ = rand.Read(key[:]) // never fails
		frame[1] |= 0x80
		frame = append(frame, key[:]...)
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return append(frame, payload...)
}

// wsParser follows the frames of one direction of a WebSocket (RFC 6455
// section 5.2) without keeping their payload.
type wsParser struct {
	hdr  [14]byte
	hn   int    // header bytes seen of the current frame
	need int    // header length, known once hn >= 2
	left uint64 // payload bytes left once the header is complete
	body bool   // in the payload of the current frame
	op   byte
}

// atBoundary reports whether the stream is between two frames.
func (ps *wsParser) atBoundary() bool { return ps.hn == 0 && !ps.body }

// advance follows p up to the end of the current frame. It returns how
// many bytes it took, and whether they ended a frame and its opcode.
func (ps *wsParser) advance(p []byte) (n int, ended bool, op byte) {
	for n < len(p) {
		if !ps.body {
			ps.hdr[ps.hn] = p[n]
			ps.hn++
			n++
			if ps.hn == 2 {
				ps.need = 2
				switch ps.hdr[1] & 0x7f {
				case 126:
					ps.need += 2
				case 127:
					ps.need += 8
				}
				if ps.hdr[1]&0x80 != 0 {
					ps.need += 4
				}
			}
			if ps.hn < 2 || ps.hn < ps.need {
				continue
			}
			ps.op = ps.hdr[0] & 0x0f
			switch l := ps.hdr[1] & 0x7f; l {
			case 126:
				ps.left = uint64(binary.BigEndian.Uint16(ps.hdr[2:4]))
			case 127:
				ps.left = binary.BigEndian.Uint64(ps.hdr[2:10])
			default:
				ps.left = uint64(l)
			}
			ps.hn = 0
			if ps.left == 0 {
				return n, true, ps.op
			}
			ps.body = true
			continue
		}
		take := min(uint64(len(p)-n), ps.left)
		n += int(take)
		ps.left -= take
		if ps.left == 0 {
			ps.body = false
			return n, true, ps.op
		}
	}
	return n, false, 0
}
