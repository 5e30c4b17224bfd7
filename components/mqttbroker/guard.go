package mqttbroker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/packets"
)

// guardStats counts what the guard refused.
type guardStats struct {
	malformed atomic.Uint64 // packets that failed to decode or made the decoder panic
	tooLarge  atomic.Uint64 // packets above max_packet_size
	panics    atomic.Uint64 // decoder or connection-handler panics recovered
}

// errRefused is returned to mochi when the guard closes a connection, so
// its logs say why the client went away.
var errRefused = errors.New("connection closed by the packet guard")

// guardChunk is how much of a large packet is read at a time, so a client
// that announces a big packet and sends nothing costs little memory.
const guardChunk = 64 << 10

// guardConn sits between a client socket and mochi. It frames each MQTT
// packet, checks its size and decodes it with mochi's own decoders inside
// recover() before mochi sees a byte of it. mochi has no recovery of its
// own, so a packet that would make a decoder panic (for example a v5
// SUBSCRIBE whose filter lacks its options byte) would otherwise take the
// whole process down; here it closes only that connection and is counted.
type guardConn struct {
	net.Conn
	r           *bufio.Reader
	buf         []byte // the current packet
	pending     []byte // validated bytes mochi has not read yet
	version     byte   // protocol version from the client's CONNECT, as mochi tracks it
	seenConnect bool
	maxSize     int
	stats       *guardStats
	onBad       func(c net.Conn, reason error)
	closeOnce   sync.Once
}

func newGuardConn(c net.Conn, maxSize, readBuf int, stats *guardStats, onBad func(net.Conn, error)) *guardConn {
	return &guardConn{Conn: c, r: bufio.NewReaderSize(c, readBuf), maxSize: maxSize, stats: stats, onBad: onBad}
}

// Read hands mochi only bytes of packets that decoded cleanly.
func (g *guardConn) Read(p []byte) (int, error) {
	if len(g.pending) == 0 {
		if err := g.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// Close closes the socket once.
func (g *guardConn) Close() error {
	var err error
	g.closeOnce.Do(func() { err = g.Conn.Close() })
	return err
}

// refuse closes the connection for a bad packet and reports it.
func (g *guardConn) refuse(reason error) error {
	if g.onBad != nil {
		g.onBad(g.Conn, reason)
	}
	_ = g.Close()
	return fmt.Errorf("%w: %v", errRefused, reason)
}

// next reads, frames and checks the next packet.
func (g *guardConn) next() error {
	if cap(g.buf) > guardChunk {
		g.buf = nil // do not keep a large packet's buffer for the connection's life
	}
	b, err := g.r.ReadByte()
	if err != nil {
		return err
	}
	var fh packets.FixedHeader
	if err := fh.Decode(b); err != nil {
		g.stats.malformed.Add(1)
		return g.refuse(fmt.Errorf("fixed header 0x%02x: %v", b, err))
	}
	// Remaining length: a variable byte integer of at most 4 bytes.
	hdr := [5]byte{b}
	n, rem, mul := 1, 0, 1
	for {
		c, err := g.r.ReadByte()
		if err != nil {
			return err
		}
		hdr[n] = c
		n++
		rem += int(c&0x7f) * mul
		if c&0x80 == 0 {
			break
		}
		if n == 5 {
			g.stats.malformed.Add(1)
			return g.refuse(errors.New("remaining length longer than 4 bytes"))
		}
		mul *= 128
	}
	total := n + rem
	if g.maxSize > 0 && total > g.maxSize {
		g.stats.tooLarge.Add(1)
		return g.refuse(fmt.Errorf("%s packet of %d bytes exceeds max_packet_size %d", packets.PacketNames[fh.Type], total, g.maxSize))
	}
	g.buf = append(g.buf[:0], hdr[:n]...)
	for len(g.buf) < total {
		chunk := min(total-len(g.buf), guardChunk)
		start := len(g.buf)
		g.buf = slices.Grow(g.buf, chunk)[:start+chunk]
		if _, err := io.ReadFull(g.r, g.buf[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	fh.Remaining = rem
	if err := g.check(fh, g.buf[n:]); err != nil {
		g.stats.malformed.Add(1)
		return g.refuse(err)
	}
	g.pending = g.buf
	return nil
}

// check decodes a packet body the way mochi's Client.ReadPacket will, and
// turns a decoder panic into an error.
func (g *guardConn) check(fh packets.FixedHeader, body []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			g.stats.panics.Add(1)
			err = fmt.Errorf("%s packet made the decoder panic: %v", packets.PacketNames[fh.Type], r)
		}
	}()
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: g.version}
	switch fh.Type {
	case packets.Connect:
		err = pk.ConnectDecode(body)
		if err == nil && !g.seenConnect {
			g.seenConnect, g.version = true, pk.ProtocolVersion
		}
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubrel:
		err = pk.PubrelDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	case packets.Subscribe:
		err = pk.SubscribeDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Unsubscribe:
		err = pk.UnsubscribeDecode(body)
	case packets.Unsuback:
		err = pk.UnsubackDecode(body)
	case packets.Pingreq, packets.Pingresp:
	case packets.Auth:
		err = pk.AuthDecode(body)
	default:
		err = fmt.Errorf("invalid packet type %d", fh.Type)
	}
	if err != nil {
		return fmt.Errorf("%s packet: %v", packets.PacketNames[fh.Type], err)
	}
	return nil
}
