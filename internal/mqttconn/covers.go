package mqttconn

import "strings"

// Covers reports whether every topic that sub matches is matched by filter;
// sub is a topic name or itself a filter. A broker needs it beside Match to
// decide a subscription by an access rule: "a/+" may be granted under the
// rule "a/#", "a/#" may not be granted under "a/+". For a topic name it
// answers as Match does. Wildcards at the first level do not match topics
// starting with '$' (MQTT 4.7.2), so $SYS needs a filter of its own.
// It allocates nothing: a broker calls it for every delivered message.
func Covers(filter, sub string) bool {
	first := true
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return !(first && strings.HasPrefix(sub, "$"))
		}
		sl, srest, smore := strings.Cut(sub, "/")
		switch fl {
		case "+":
			if sl == "#" || (first && strings.HasPrefix(sl, "$")) {
				return false
			}
		default:
			if sl != fl {
				return false
			}
		}
		first = false
		if !fmore && !smore {
			return true
		}
		if !smore {
			// sub ended; a filter "a/#" still covers "a".
			return fmore && frest == "#"
		}
		if !fmore {
			return false
		}
		filter, sub = frest, srest
	}
}
