package router

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A minimal WebSocket (RFC 6455) for the tests: frames, a client that
// dials through the router, and a backend that echoes text frames and
// answers a close frame.

const (
	wsOpText = 0x1
	wsOpBin  = 0x2
)

// wsFrame encodes one final frame; masked frames get a fixed key.
func wsFrame(op byte, payload []byte, masked bool) []byte {
	f := []byte{0x80 | op}
	mask := byte(0)
	if masked {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		f = append(f, mask|byte(n))
	case n <= 0xffff:
		f = append(f, mask|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, mask|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	if !masked {
		return append(f, payload...)
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	f = append(f, key[:]...)
	for i, c := range payload {
		f = append(f, c^key[i%4])
	}
	return f
}

// readFrame is one frame as read.
type readFrame struct {
	op      byte
	masked  bool
	payload []byte
}

// closeCode returns the status code of a close frame (0 without one).
func (f readFrame) closeCode() int {
	if len(f.payload) < 2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

// wsReadFrame reads one frame from br, unmasking its payload.
func wsReadFrame(br *bufio.Reader) (readFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return readFrame{}, err
	}
	f := readFrame{op: h[0] & 0x0f, masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(br, key[:]); err != nil {
			return f, err
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(br, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

// wsClient is a WebSocket client connection through the router.
type wsClient struct {
	conn net.Conn
	br   *bufio.Reader
	slot string
}

// dialWS opens a WebSocket to url's host through the router.
func dialWS(t *testing.T, addr, path string) *wsClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade status %d, want 101", resp.StatusCode)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), wsAccept("dGhlIHNhbXBsZSBub25jZQ=="); got != want {
		t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	return &wsClient{conn: conn, br: br, slot: resp.Header.Get(HeaderSlot)}
}

func (c *wsClient) send(t *testing.T, op byte, payload string) {
	t.Helper()
	if _, err := c.conn.Write(wsFrame(op, []byte(payload), true)); err != nil {
		t.Fatalf("send frame: %v", err)
	}
}

func (c *wsClient) read(t *testing.T) readFrame {
	t.Helper()
	f, err := wsReadFrame(c.br)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if f.masked {
		t.Fatalf("server frame op %d is masked", f.op)
	}
	return f
}

// echo sends a text frame and expects it back.
func (c *wsClient) echo(t *testing.T, msg string) {
	t.Helper()
	c.send(t, wsOpText, msg)
	if f := c.read(t); f.op != wsOpText || string(f.payload) != msg {
		t.Fatalf("echo: op %d %q, want text %q", f.op, f.payload, msg)
	}
}

// expectGoingAway expects a close frame 1001, answers it, and expects the
// router to close the connection normally (EOF, not a reset).
func (c *wsClient) expectGoingAway(t *testing.T, name string) {
	t.Helper()
	f := c.read(t)
	if f.op != wsOpClose || f.closeCode() != wsCloseGoingAway {
		t.Fatalf("%s: got op %d code %d %q, want close 1001", name, f.op, f.closeCode(), f.payload)
	}
	c.send(t, wsOpClose, string(f.payload[:2]))
	if n, err := c.br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("%s: after the close handshake: %d bytes, %v; want EOF", name, n, err)
	}
}

// wsAccept is the Sec-WebSocket-Accept answer to key.
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsBackend is a WebSocket server: it greets with "hello <slot>", echoes
// text frames, writes what the test puts on a connection's raw channel,
// and answers a close frame with one of its own.
type wsBackend struct {
	slot  Slot
	conns chan *wsBackendSide
}

// wsBackendSide is the backend's end of one connection.
type wsBackendSide struct {
	// raw takes bytes to write as they are; part the first part of a
	// frame, after which the backend writes nothing but the next raw bytes
	// (the rest of the frame), as a server writing a frame in two goes.
	raw  chan []byte
	part chan []byte
	// closeFrame is the close frame the backend received; end is the error
	// of its read after answering it (nil: the router closed normally).
	closeFrame chan readFrame
	end        chan error
}

func newWSBackend(slot Slot) *wsBackend {
	return &wsBackend{slot: slot, conns: make(chan *wsBackendSide, 16)}
}

func (b *wsBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer func() { _ = conn.Close() }()
	_, _ = fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		wsAccept(r.Header.Get("Sec-WebSocket-Key")))
	_, _ = brw.Write(wsFrame(wsOpText, []byte("hello "+string(b.slot)), false))
	if brw.Flush() != nil {
		return
	}
	side := &wsBackendSide{raw: make(chan []byte), part: make(chan []byte), closeFrame: make(chan readFrame, 1), end: make(chan error, 1)}
	writes := make(chan []byte, 16)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case p := <-writes:
				_, _ = conn.Write(p)
			case p := <-side.raw:
				_, _ = conn.Write(p)
			case p := <-side.part:
				_, _ = conn.Write(p)
				select {
				case p := <-side.raw:
					_, _ = conn.Write(p)
				case <-stop:
					return
				}
			case <-stop:
				return
			}
		}
	}()
	b.conns <- side
	for {
		f, err := wsReadFrame(brw.Reader)
		if err != nil {
			return
		}
		switch f.op {
		case wsOpText, wsOpBin:
			writes <- wsFrame(f.op, f.payload, false)
		case wsOpClose:
			side.closeFrame <- f
			writes <- wsFrame(wsOpClose, f.payload[:2], false)
			_, err := brw.Reader.Read(make([]byte, 1))
			if errors.Is(err, io.EOF) {
				err = nil
			}
			side.end <- err
			return
		}
	}
}

func TestWSParser(t *testing.T) {
	frames := [][]byte{
		wsFrame(wsOpText, nil, false),
		wsFrame(wsOpText, []byte("hi"), true),
		wsFrame(wsOpBin, bytes.Repeat([]byte("x"), 125), false),
		wsFrame(wsOpBin, bytes.Repeat([]byte("y"), 126), true),
		wsFrame(wsOpBin, bytes.Repeat([]byte("z"), 70000), false),
		wsFrame(wsOpClose, []byte{0x03, 0xe8}, true),
	}
	var stream []byte
	var ends []int
	for _, f := range frames {
		stream = append(stream, f...)
		ends = append(ends, len(stream))
	}
	for _, chunk := range []int{1, 3, 7, 1000, len(stream)} {
		var ps wsParser
		var got []int
		var ops []byte
		for off := 0; off < len(stream); {
			end := min(off+chunk, len(stream))
			for off < end {
				n, ended, op := ps.advance(stream[off:end])
				off += n
				if ended {
					got = append(got, off)
					ops = append(ops, op)
					if !ps.atBoundary() {
						t.Fatalf("chunk %d: not at a boundary after a frame", chunk)
					}
				} else if ps.atBoundary() && n > 0 {
					t.Fatalf("chunk %d: at a boundary inside a frame (offset %d)", chunk, off)
				}
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(ends) {
			t.Fatalf("chunk %d: frame ends %v, want %v", chunk, got, ends)
		}
		if ops[len(ops)-1] != wsOpClose || ops[0] != wsOpText {
			t.Fatalf("chunk %d: opcodes %v", chunk, ops)
		}
	}
}

// A close requested in the middle of a frame goes out right after it, and
// the frames after it are dropped.
func TestWSDirCloseAtBoundary(t *testing.T) {
	var dst bytes.Buffer
	d := wsDir{dst: &dst, close: wsCloseFrame(false)}
	first := wsFrame(wsOpText, []byte("first message"), false)
	second := wsFrame(wsOpText, []byte("second"), false)
	if _, err := d.write(first[:5]); err != nil {
		t.Fatal(err)
	}
	if err := d.startClose(); err != nil {
		t.Fatal(err)
	}
	if dst.Len() != 5 || d.sent.Load() {
		t.Fatalf("close sent inside a frame: %q", dst.Bytes())
	}
	rest := append(append([]byte{}, first[5:]...), second...)
	rest = append(rest, wsFrame(wsOpClose, []byte{0x03, 0xe9}, false)...)
	if n, err := d.write(rest); err != nil || n != len(rest) {
		t.Fatalf("write = %d, %v", n, err)
	}
	want := append(append([]byte{}, first...), wsCloseFrame(false)...)
	if !bytes.Equal(dst.Bytes(), want) {
		t.Fatalf("sent %q, want %q", dst.Bytes(), want)
	}
	if !d.sent.Load() || !d.srcClosed.Load() {
		t.Fatalf("sent %v srcClosed %v, want both", d.sent.Load(), d.srcClosed.Load())
	}
	f, err := wsReadFrame(bufio.NewReader(bytes.NewReader(wsCloseFrame(true))))
	if err != nil || f.op != wsOpClose || !f.masked || f.closeCode() != wsCloseGoingAway ||
		!strings.Contains(string(f.payload), wsCloseReason) {
		t.Fatalf("masked close frame: %+v, %v", f, err)
	}
}
