package view

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// Frames are JSON objects with a "type". The page and the terminal client
// speak the same protocol; PROTOCOL.md in this package lists every frame.

// Request is a frame from a client.
type Request struct {
	Type string `json:"type"`
	// Ref is echoed in the answer, so a client can match results to requests.
	Ref string `json:"ref,omitempty"`
	// subscribe / unsubscribe
	Sub      string   `json:"sub,omitempty"`
	Paths    []string `json:"paths,omitempty"`
	MaxRate  float64  `json:"max_rate,omitempty"` // deltas per second at most (default 10)
	Deadband float64  `json:"deadband,omitempty"` // numeric change below which a value is not resent
	// events: replay from a sequence number, or from a time (Unix ms)
	Seq   uint64  `json:"seq,omitempty"`
	Since float64 `json:"since,omitempty"`
	// set, force, ack, release
	Path  string          `json:"path,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	// login
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
}

// Hello is the first frame on every connection.
type Hello struct {
	Type         string  `json:"type"` // "hello"
	App          string  `json:"app"`
	Description  string  `json:"description,omitempty"`
	Version      string  `json:"version,omitempty"`
	Writes       bool    `json:"writes"`        // writes are enabled (after login)
	AuthRequired bool    `json:"auth_required"` // writes need a login first
	ServerTime   float64 `json:"server_time"`   // Unix ms
}

// Structure is the application tree.
type Structure struct {
	Type       string       `json:"type"` // "structure"
	App        string       `json:"app"`
	Components []Component  `json:"components"`
	Alarms     []AlarmDecl  `json:"alarms,omitempty"` // application-level alarms
	Groups     []GroupDecl  `json:"groups,omitempty"`
	Members    []MemberDecl `json:"-"`
}

// Component is one node of the tree.
type Component struct {
	Path    string       `json:"path"`
	Name    string       `json:"name"`
	Type    string       `json:"type"`
	Parent  string       `json:"parent,omitempty"`
	Desc    string       `json:"desc,omitempty"`
	FS      float64      `json:"fs,omitempty"`
	Group   string       `json:"group,omitempty"`
	Signals []MemberDecl `json:"signals,omitempty"`
	Params  []MemberDecl `json:"params,omitempty"`
	Alarms  []AlarmDecl  `json:"alarms,omitempty"`
}

// MemberDecl is a signal or parameter; ID is what value frames carry.
type MemberDecl struct {
	ID      int32    `json:"id"`
	Name    string   `json:"name"`
	Path    string   `json:"path"`
	Dir     string   `json:"dir,omitempty"` // signals: input or output
	Type    string   `json:"type"`
	Unit    string   `json:"unit,omitempty"`
	Desc    string   `json:"desc,omitempty"`
	Min     *float64 `json:"min,omitempty"`
	Max     *float64 `json:"max,omitempty"`
	Default string   `json:"default,omitempty"`
}

// AlarmDecl is an alarm of the tree.
type AlarmDecl struct {
	Path  string `json:"path"`
	Name  string `json:"name"`
	Level string `json:"level"`
	Text  string `json:"text"`
}

// GroupDecl is a rate group.
type GroupDecl struct {
	Name string `json:"name"`
}

// EventFrame is one event of the stream.
type EventFrame struct {
	Type   string  `json:"type"` // "event"
	Seq    uint64  `json:"seq"`
	Time   float64 `json:"time"` // Unix ms
	Kind   string  `json:"kind"` // set, cleared, acknowledged, written, forced, released
	Path   string  `json:"path"`
	Level  string  `json:"level,omitempty"`
	Text   string  `json:"text,omitempty"`
	Active bool    `json:"active,omitempty"`
	Acked  bool    `json:"acked,omitempty"`
	By     string  `json:"by,omitempty"`
	Value  string  `json:"value,omitempty"`
	Old    string  `json:"old,omitempty"`
	Replay bool    `json:"replay,omitempty"` // sent again for a client that asked to replay history
}

// AlarmsFrame lists every alarm's state.
type AlarmsFrame struct {
	Type   string       `json:"type"` // "alarms"
	Alarms []AlarmState `json:"alarms"`
}

// AlarmState is one alarm's state.
type AlarmState struct {
	Path    string  `json:"path"`
	Level   string  `json:"level"`
	Text    string  `json:"text"`
	Active  bool    `json:"active"`
	Unacked bool    `json:"unacked"`
	Since   float64 `json:"since,omitempty"` // Unix ms
}

// ForcesFrame lists every active force.
type ForcesFrame struct {
	Type   string  `json:"type"` // "forces"
	Forces []Force `json:"forces"`
}

// Force is one active force.
type Force struct {
	Path  string  `json:"path"`
	Dir   string  `json:"dir"`
	Value string  `json:"value"`
	By    string  `json:"by"`
	Since float64 `json:"since"` // Unix ms
}

// WriteResult answers set, ack, force, release and login.
type WriteResult struct {
	Type  string `json:"type"` // "write_result" or "login_result"
	Ref   string `json:"ref,omitempty"`
	OK    bool   `json:"ok"`
	Code  string `json:"code,omitempty"` // why it was refused (runtime.WriteCode, or forbidden, unauthenticated, bad_request)
	Error string `json:"error,omitempty"`
	Old   string `json:"old,omitempty"`   // set: the value replaced
	Count int    `json:"count,omitempty"` // ack or release of "*": how many
	User  string `json:"user,omitempty"`  // login
}

// Throttled tells a client the server sends it less than it asked for,
// because it does not read fast enough; Active false says it is over.
type Throttled struct {
	Type     string  `json:"type"` // "throttled"
	Sub      string  `json:"sub"`
	Active   bool    `json:"active"`
	Rate     float64 `json:"rate"`      // deltas per second now sent
	Skipped  uint64  `json:"skipped"`   // deltas coalesced into later ones so far
	Reason   string  `json:"reason"`    // for people
	Requests float64 `json:"requested"` // the rate asked for
}

// ErrorFrame reports a request the server could not understand.
type ErrorFrame struct {
	Type  string `json:"type"` // "error"
	Ref   string `json:"ref,omitempty"`
	Error string `json:"error"`
}

// Value is a decoded value of a snapshot or delta frame.
type Value struct {
	ID      int32           `json:"id"`
	Path    string          `json:"path,omitempty"` // snapshots only
	V       json.RawMessage `json:"v"`              // null when the value was never received
	T       float64         `json:"t,omitempty"`    // Unix ms when produced
	Q       string          `json:"q"`
	S       uint64          `json:"s"`
	F       bool            `json:"f,omitempty"`  // forced
	R       json.RawMessage `json:"r,omitempty"`  // forced: the real value
	RQ      string          `json:"rq,omitempty"` // forced: the real quality
	Decoded any             `json:"-"`
}

// ValuesFrame is a snapshot, a delta or the answer to get.
type ValuesFrame struct {
	Type   string  `json:"type"` // "snapshot", "delta" or "values"
	Sub    string  `json:"sub,omitempty"`
	Ref    string  `json:"ref,omitempty"`
	Values []Value `json:"values"`
}

// unixMs converts Unix ns to Unix ms, keeping microseconds.
func unixMs(ns int64) float64 { return float64(ns/1000) / 1000 }

func timeMs(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return unixMs(t.UnixNano())
}

// appendValue writes v as JSON: numbers as numbers, NaN and infinities as
// the strings "NaN", "+Inf", "-Inf" (JSON has no such numbers).
func appendValue(b []byte, v signals.Value) []byte {
	switch v.Kind() {
	case signals.Bool:
		x, _ := v.Bool()
		return strconv.AppendBool(b, x)
	case signals.Int:
		x, _ := v.Int()
		return strconv.AppendInt(b, x, 10)
	case signals.Uint:
		x, _ := v.Uint()
		return strconv.AppendUint(b, x, 10)
	case signals.Float:
		x, _ := v.Float()
		switch {
		case math.IsNaN(x):
			return append(b, `"NaN"`...)
		case math.IsInf(x, 1):
			return append(b, `"+Inf"`...)
		case math.IsInf(x, -1):
			return append(b, `"-Inf"`...)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case signals.String:
		return appendString(b, v.Text())
	}
	return append(b, "null"...)
}

func appendString(b []byte, s string) []byte {
	if isPlain(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	j, _ := json.Marshal(s)
	return append(b, j...)
}

func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// appendSample writes one value of a snapshot or delta frame. A value
// never received (quality initial) goes out as null, never as a number.
func appendSample(b []byte, s *runtime.Sample, path string) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, int64(s.ID), 10)
	if path != "" {
		b = append(b, `,"path":`...)
		b = appendString(b, path)
	}
	b = append(b, `,"v":`...)
	if s.Quality == signals.Initial {
		b = append(b, "null"...)
	} else {
		b = appendValue(b, s.Value)
	}
	if s.Stamp != 0 {
		b = append(b, `,"t":`...)
		b = strconv.AppendFloat(b, unixMs(s.Stamp), 'f', -1, 64)
	}
	b = append(b, `,"q":"`...)
	b = append(b, s.Quality.String()...)
	b = append(b, `","s":`...)
	b = strconv.AppendUint(b, s.Seq, 10)
	if s.Forced {
		b = append(b, `,"f":true,"r":`...)
		if s.RealQuality == signals.Initial {
			b = append(b, "null"...)
		} else {
			b = appendValue(b, s.Real)
		}
		b = append(b, `,"rq":"`...)
		b = append(b, s.RealQuality.String()...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// parseValue turns a JSON value of a write into a signals.Value: integers
// stay integers, so that an int parameter accepts 3 and refuses 2.5.
func parseValue(raw json.RawMessage) (signals.Value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return signals.Value{}, fmt.Errorf("no value given")
	}
	switch raw[0] {
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return signals.Value{}, fmt.Errorf("value %s is not JSON", raw)
		}
		return signals.BoolValue(b), nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return signals.Value{}, fmt.Errorf("value %s is not a JSON string", raw)
		}
		return signals.StringValue(s), nil
	}
	text := string(raw)
	if !strings.ContainsAny(text, ".eE") {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return signals.IntValue(i), nil
		}
		if u, err := strconv.ParseUint(text, 10, 64); err == nil {
			return signals.UintValue(u), nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return signals.Value{}, fmt.Errorf("value %s is not a number, true, false or a string", raw)
	}
	return signals.FloatValue(f), nil
}

// DecodeValue turns a value of a frame into a Go value: float64, int64,
// uint64 (as json.Number text), bool, string, or nil for null.
func DecodeValue(raw json.RawMessage) any {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil
	}
	return v
}

// FormatValue renders a frame value for a terminal: null as "-".
func FormatValue(raw json.RawMessage) string {
	switch v := DecodeValue(raw).(type) {
	case nil:
		return "-"
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}
