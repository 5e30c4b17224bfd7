package mqttconn

import (
	"errors"
	"fmt"
	"strings"
)

// Topic filters. A broker delivers one copy of a message per matching
// subscription of a client, and paho keeps only one subscription identifier
// per message (MQTT 3.1.1 has none), so overlapping filters on one
// connection mean duplicates that cannot be told apart. A connection
// therefore subscribes to a set of filters no two of which can match the
// same topic (overlapping ones merged into their common generalisation) and
// fans each message out locally to every handler whose own filter matches.

// Match reports whether topic matches filter (MQTT 4.7). Wildcards at the
// first level do not match topics starting with '$'.
func Match(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			// "a/#" also matches "a".
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}

// ValidFilter checks a subscription filter's wildcards.
func ValidFilter(f string) error {
	if f == "" {
		return errors.New("topic is empty")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("topic %q: # must be a whole last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("topic %q: + must be a whole level", f)
		}
	}
	return nil
}

// ValidTopic checks a publish topic.
func ValidTopic(t string) error {
	if t == "" {
		return errors.New("topic is empty")
	}
	if strings.ContainsAny(t, "+#\x00") {
		return fmt.Errorf("topic %q: a publish topic cannot hold + or # (nor NUL)", t)
	}
	return nil
}

// overlap reports whether some topic matches both filters.
func overlap(a, b string) bool {
	// A filter starting with a wildcard never matches a '$' topic.
	if dollar(a) && wild(b) || dollar(b) && wild(a) {
		return false
	}
	al, bl := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; ; i++ {
		if i == len(al) || i == len(bl) {
			if len(al) == len(bl) {
				return true
			}
			// One ended: the other matches the same topic only through "#".
			longer := al
			if len(bl) > len(al) {
				longer = bl
			}
			return longer[i] == "#" && i == len(longer)-1
		}
		x, y := al[i], bl[i]
		if x == "#" || y == "#" {
			return true
		}
		if x != "+" && y != "+" && x != y {
			return false
		}
	}
}

func dollar(f string) bool { return strings.HasPrefix(f, "$") }

func wild(f string) bool { return strings.HasPrefix(f, "+") || strings.HasPrefix(f, "#") }

// generalise returns a filter that matches every topic either filter does.
func generalise(a, b string) string {
	al, bl := strings.Split(a, "/"), strings.Split(b, "/")
	var out []string
	for i := 0; i < len(al) || i < len(bl); i++ {
		if i == len(al) || i == len(bl) || al[i] == "#" || bl[i] == "#" {
			out = append(out, "#")
			break
		}
		if al[i] == bl[i] {
			out = append(out, al[i])
		} else {
			out = append(out, "+")
		}
	}
	return strings.Join(out, "/")
}

// disjoint reduces filters (with their QoS) to pairwise disjoint filters
// covering them all, each with the highest QoS it covers, in the order
// they were first given.
func disjoint(filters []string, qos []byte) ([]string, []byte) {
	var fs []string
	var qs []byte
	add := func(f string, q byte) {
		for {
			merged := false
			for i := 0; i < len(fs); i++ {
				if fs[i] == f || overlap(fs[i], f) {
					f = generalise(fs[i], f)
					q = max(q, qs[i])
					fs = append(fs[:i], fs[i+1:]...)
					qs = append(qs[:i], qs[i+1:]...)
					merged = true
					break
				}
			}
			if !merged {
				fs, qs = append(fs, f), append(qs, q)
				return
			}
		}
	}
	for i, f := range filters {
		add(f, qos[i])
	}
	return fs, qs
}
