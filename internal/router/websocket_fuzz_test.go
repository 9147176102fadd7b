package router

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzWSParser checks the frame follower used for the clean close against
// a plain decoder of RFC 6455 frame headers, on any bytes fed in any
// chunks: it reports the end of the same frames at the same offsets with
// the same opcodes, always makes progress, and is at a boundary exactly at
// the ends of frames.
func FuzzWSParser(f *testing.F) {
	f.Add(append([]byte{0x81, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'}, wsCloseFrame(false)...), []byte{3, 5})
	f.Fuzz(func(t *testing.T, stream, chunks []byte) {
		want := wsModelFrames(stream)
		var got []wsFrameEnd
		var ps wsParser
		off := 0
		for c := 0; off < len(stream); c++ {
			size := len(stream) - off
			if c < len(chunks) && chunks[c] > 0 {
				size = min(size, int(chunks[c]))
			}
			p := stream[off : off+size]
			for len(p) > 0 {
				n, ended, op := ps.advance(p)
				if n <= 0 || n > len(p) {
					t.Fatalf("advance took %d of %d bytes", n, len(p))
				}
				off += n
				p = p[n:]
				if ended {
					got = append(got, wsFrameEnd{off, op})
				}
				if ended != ps.atBoundary() {
					t.Fatalf("at %d: ended %v but at boundary %v", off, ended, ps.atBoundary())
				}
			}
		}
		if len(got) != len(want) {
			t.Fatalf("frames end at %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("frame %d ends at %v, want %v", i, got[i], want[i])
			}
		}
	})
}

// wsFrameEnd is where a frame ends in a stream, and its opcode.
type wsFrameEnd struct {
	off int
	op  byte
}

// wsModelFrames decodes the complete frames at the start of stream.
func wsModelFrames(stream []byte) []wsFrameEnd {
	var out []wsFrameEnd
	for off := 0; ; {
		b := stream[off:]
		if len(b) < 2 {
			return out
		}
		hdr := 2
		size := uint64(b[1] & 0x7f)
		switch size {
		case 126:
			hdr = 4
		case 127:
			hdr = 10
		}
		if b[1]&0x80 != 0 {
			hdr += 4
		}
		if len(b) < hdr {
			return out
		}
		switch size {
		case 126:
			size = uint64(binary.BigEndian.Uint16(b[2:4]))
		case 127:
			size = binary.BigEndian.Uint64(b[2:10])
		}
		if uint64(len(b)-hdr) < size {
			return out
		}
		off += hdr + int(size)
		out = append(out, wsFrameEnd{off, b[0] & 0x0f})
	}
}

// FuzzWSCleanClose checks the direction that puts the router's close frame
// between two frames of the source, on any source bytes and any point at
// which the close starts: what reaches the other side is the source's
// bytes up to a frame boundary and then the router's close frame, or, when
// the source's own close frame went first, the source's bytes up to it.
func FuzzWSCleanClose(f *testing.F) {
	f.Add([]byte{0x82, 0x03, 1, 2, 3, 0x81, 0x01, 'x'}, uint16(2))
	f.Fuzz(func(t *testing.T, stream []byte, at uint16) {
		var dst bytes.Buffer
		closeFrame := wsCloseFrame(false)
		d := &wsDir{dst: &dst, close: closeFrame}
		cut := int(at) % (len(stream) + 1)
		if n, err := d.write(stream[:cut]); err != nil || n != cut {
			t.Fatalf("write = %d, %v", n, err)
		}
		if err := d.startClose(); err != nil {
			t.Fatal(err)
		}
		if n, err := d.write(stream[cut:]); err != nil || n != len(stream)-cut {
			t.Fatalf("write = %d, %v", n, err)
		}
		out := dst.Bytes()
		frames := wsModelFrames(stream)
		next := -1 // the first frame boundary at or after cut
		if cut == 0 {
			next = 0
		}
		for _, fr := range frames {
			if next < 0 && fr.off >= cut {
				next = fr.off
			}
		}
		if own := firstClose(frames); own >= 0 && (own <= cut || own == next) {
			// The source's close frame went first: the router adds nothing.
			if !bytes.Equal(out, stream) {
				t.Fatalf("source closed at %d, close started at %d: the other side got %q of %q", own, cut, out, stream)
			}
			return
		}
		want := stream
		if next >= 0 {
			want = append(stream[:next:next], closeFrame...)
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("close started after %d of %q: the other side got %q, want %q", cut, stream, out, want)
		}
	})
}

// firstClose is where the first close frame of frames ends, or -1.
func firstClose(frames []wsFrameEnd) int {
	for _, fr := range frames {
		if fr.op == wsOpClose {
			return fr.off
		}
	}
	return -1
}
