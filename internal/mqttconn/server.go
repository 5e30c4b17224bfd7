package mqttconn

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// schemes maps the accepted URL schemes to the canonical one and the
// default port. tcp, ssl and tls are accepted because paho's examples and
// many brokers' manuals use them.
var schemes = map[string]struct{ canon, port string }{
	"mqtt": {"mqtt", "1883"}, "tcp": {"mqtt", "1883"},
	"mqtts": {"mqtts", "8883"}, "ssl": {"mqtts", "8883"}, "tls": {"mqtts", "8883"},
	"ws": {"ws", "80"}, "wss": {"wss", "443"},
}

// SchemeList is the accepted schemes as docs and errors state them.
const SchemeList = "mqtt, mqtts, ws or wss (tcp is accepted for mqtt, ssl and tls for mqtts)"

// ServerError is a mistake in a broker URL, with the byte offset of the
// character it concerns, so that configuration can point at it.
type ServerError struct {
	Offset int
	Msg    string
}

func (e *ServerError) Error() string { return e.Msg }

// ParseServer checks a broker URL and returns it with its canonical scheme
// (mqtt, mqtts, ws, wss) and the scheme's default port filled in. A
// mistake is a *ServerError.
func ParseServer(s string) (*url.URL, error) {
	i := strings.Index(s, "://")
	if i < 0 {
		return nil, &ServerError{0, fmt.Sprintf("%q has no scheme: write it as mqtt://%s (or %s)", s, s, SchemeList)}
	}
	sch, ok := schemes[strings.ToLower(s[:i])]
	if !ok {
		return nil, &ServerError{0, fmt.Sprintf("scheme %q: want %s", s[:i], SchemeList)}
	}
	// The port, checked here to point at it; url.Parse only checks digits.
	auth := s[i+3:]
	if j := strings.IndexAny(auth, "/?#"); j >= 0 {
		auth = auth[:j]
	}
	hostStart := i + 3
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		hostStart += at + 1
		auth = auth[at+1:]
	}
	if c := strings.LastIndexByte(auth, ':'); c >= 0 && !strings.Contains(auth[c:], "]") {
		port := auth[c+1:]
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, &ServerError{hostStart + c + 1, fmt.Sprintf("port %q: want 1 to 65535", port)}
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &ServerError{0, fmt.Sprintf("%q: %v", s, err)}
	}
	if u.Hostname() == "" {
		return nil, &ServerError{i + 3, fmt.Sprintf("%q has no host", s)}
	}
	u.Scheme = sch.canon
	if u.Port() == "" {
		u.Host += ":" + sch.port
	}
	return u, nil
}
