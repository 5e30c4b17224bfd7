package mqttclient

import "strings"

// Topic filters. A broker delivers one copy of a message per matching
// subscription of a client, and paho keeps only one subscription identifier
// per message, so overlapping filters on one connection mean duplicates that
// cannot be told apart. The client therefore subscribes to a set of filters
// no two of which can match the same topic (overlapping ones merged into
// their common generalisation) and fans each message out locally to every
// configured topic that matches it.

// match reports whether topic matches filter (MQTT 4.7). Wildcards at the
// first level do not match topics starting with '$'.
func match(filter, topic string) bool {
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

// brokerFilters reduces filters (with their QoS) to pairwise disjoint
// filters covering them all, each with the highest QoS it covers.
func brokerFilters(filters []string, qos []byte) ([]string, []byte) {
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
