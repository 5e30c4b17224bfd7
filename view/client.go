package view

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"
)

// Frame is one frame from the server, decoded as far as its type and ref.
type Frame struct {
	Type string `json:"type"`
	Ref  string `json:"ref"`
	Raw  []byte `json:"-"`
}

// Decode decodes the frame into v.
func (f Frame) Decode(v any) error { return json.Unmarshal(f.Raw, v) }

// Client is a connection to a live view's WebSocket API: what `runtime
// watch`, `get`, `set`, `ack`, `force` and `unforce` use, on this machine
// or another.
type Client struct {
	ws        *websocket.Conn
	Hello     Hello
	Structure Structure
	frames    chan Frame
	err       error
	errMu     sync.Mutex
	wmu       sync.Mutex
	ref       atomic.Uint64
	byID      map[int32]string
	// held are frames Await read past while looking for an answer; Next
	// returns them first, so nothing is lost to a request in between.
	held []Frame
}

// DialOptions configure Dial.
type DialOptions struct {
	// TLS configures wss:// (nil: the system's roots).
	TLS *tls.Config
}

// APIURL turns what a user types (host:port, http://host:port/,
// ws://host:port/api) into the API's WebSocket URL.
func APIURL(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		addr = "ws://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("bad live view address %q: %v", addr, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("bad live view address %q: want host:port, http(s):// or ws(s)://", addr)
	}
	if u.Host == "" {
		return "", fmt.Errorf("bad live view address %q: no host", addr)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/api"
	}
	return u.String(), nil
}

// Dial connects and reads the hello and structure frames.
func Dial(ctx context.Context, addr string, opts DialOptions) (*Client, error) {
	u, err := APIURL(addr)
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{TLSClientConfig: opts.TLS, HandshakeTimeout: 10 * 1e9}
	ws, resp, err := d.DialContext(ctx, u, http.Header{})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("connect to %s: %v (HTTP %s)", u, err, resp.Status)
		}
		return nil, fmt.Errorf("connect to %s: %v", u, err)
	}
	ws.SetReadLimit(64 << 20)
	c := &Client{ws: ws, frames: make(chan Frame, 256), byID: map[int32]string{}}
	go c.readLoop()
	for c.Structure.Type == "" {
		f, err := c.Next(ctx)
		if err != nil {
			ws.Close()
			return nil, err
		}
		switch f.Type {
		case "hello":
			err = f.Decode(&c.Hello)
		case "structure":
			err = f.Decode(&c.Structure)
		}
		if err != nil {
			ws.Close()
			return nil, fmt.Errorf("bad %s frame: %v", f.Type, err)
		}
	}
	for _, comp := range c.Structure.Components {
		for _, m := range comp.Signals {
			c.byID[m.ID] = m.Path
		}
		for _, m := range comp.Params {
			c.byID[m.ID] = m.Path
		}
	}
	return c, nil
}

// PathOf returns the path of a value's ID.
func (c *Client) PathOf(id int32) string { return c.byID[id] }

func (c *Client) readLoop() {
	defer close(c.frames)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.errMu.Lock()
			c.err = err
			c.errMu.Unlock()
			return
		}
		var f Frame
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		f.Raw = data
		c.frames <- f
	}
}

// Next returns the next frame. Next and Await are for one goroutine.
func (c *Client) Next(ctx context.Context) (Frame, error) {
	if len(c.held) > 0 {
		f := c.held[0]
		c.held = c.held[1:]
		return f, nil
	}
	return c.next(ctx)
}

func (c *Client) next(ctx context.Context) (Frame, error) {
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.errMu.Lock()
			defer c.errMu.Unlock()
			return Frame{}, fmt.Errorf("connection closed: %v", c.err)
		}
		return f, nil
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	}
}

// Send sends a request; a Ref is filled in if empty, and returned.
func (c *Client) Send(r Request) (string, error) {
	if r.Ref == "" {
		r.Ref = "r" + strconv.FormatUint(c.ref.Add(1), 10)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return r.Ref, c.ws.WriteMessage(websocket.TextMessage, data)
}

// Await reads frames until the answer to ref (or an error frame about it).
func (c *Client) Await(ctx context.Context, ref string) (Frame, error) {
	for {
		f, err := c.next(ctx)
		if err != nil {
			return f, err
		}
		if f.Ref != ref {
			if len(c.held) < cap(c.frames) {
				c.held = append(c.held, f)
			}
			continue
		}
		if f.Type == "error" {
			var e ErrorFrame
			f.Decode(&e)
			return f, errors.New(e.Error)
		}
		return f, nil
	}
}

// call sends a request and waits for its answer.
func (c *Client) call(ctx context.Context, r Request) (Frame, error) {
	ref, err := c.Send(r)
	if err != nil {
		return Frame{}, err
	}
	return c.Await(ctx, ref)
}

// Login authenticates the connection for writes.
func (c *Client) Login(ctx context.Context, user, password string) error {
	f, err := c.call(ctx, Request{Type: "login", User: user, Password: password})
	if err != nil {
		return err
	}
	var r WriteResult
	if err := f.Decode(&r); err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("login as %s: %s", user, r.Error)
	}
	return nil
}

// Get returns the current values of the members matching the patterns.
func (c *Client) Get(ctx context.Context, patterns ...string) ([]Value, error) {
	f, err := c.call(ctx, Request{Type: "get", Paths: patterns})
	if err != nil {
		return nil, err
	}
	var vf ValuesFrame
	if err := f.Decode(&vf); err != nil {
		return nil, err
	}
	return vf.Values, nil
}

// Write sends a set, ack, force or release and returns the server's
// result; a refused write is a result with OK false, not an error.
func (c *Client) Write(ctx context.Context, typ, path string, value any) (*WriteResult, error) {
	r := Request{Type: typ, Path: path}
	if value != nil {
		raw, err := json.Marshal(value)
		if err != nil {
			return nil, err
		}
		r.Value = raw
	}
	f, err := c.call(ctx, r)
	if err != nil {
		return nil, err
	}
	var res WriteResult
	if err := f.Decode(&res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.ws.Close() }
