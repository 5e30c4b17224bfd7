package arith_test

import (
	"testing"

	"github.com/metronome-rt/metronome/components/arith"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
)

// FuzzExpression feeds arbitrary formulas to the compiler: it never
// panics, a rejected formula is one field error at an offset inside the
// text, and an accepted one evaluates without panicking.
func FuzzExpression(f *testing.F) {
	for _, s := range []string{
		"a + b * 2", "a > b ? a : b", "min(a, b, 1) + clamp(a, 0, 1)", "!(a > 1) && b < 2 || true",
		"((a", "a ? b", "1e", "..5", "a b", "-(-(-a))", "2^-a^b", "pow(a)", "max()", "a == (b > 1)",
		"a > 0 ? (b > 0 ? 1 : 2) : 3", "", "\x00", "é", "a +\n b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		cfg := &arith.ExpressionConfig{Inputs: []string{"a", "b"}, Expression: src}
		err := cfg.Validate()
		if err != nil {
			fes := runtime.AsFieldErrors(err)
			if len(fes) == 0 {
				t.Fatalf("%q: %v is no field error", src, err)
			}
			for _, fe := range fes {
				switch {
				case fe.Path != "expression" && fe.Path != "inputs[0]" && fe.Path != "inputs[1]",
					fe.Offset < 0 || fe.Offset > len(src) || fe.Msg == "":
					t.Fatalf("%q: field error %+v", src, fe)
				}
			}
			return
		}
		h := runtimetest.New(t, arith.Expression, "config: {inputs: [a, b], expression: "+quote(src)+"}")
		for _, v := range [][2]float64{{0, 0}, {1, -1}, {1e308, 1e-308}} {
			h.Set("a", v[0])
			h.Set("b", v[1])
			h.Step(1)
		}
	})
}

// quote writes s as a YAML double-quoted scalar.
func quote(s string) string {
	out := []byte{'"'}
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			out = append(out, '\\', byte(r))
		case r < 0x20 || r == 0x7f:
			out = append(out, []byte("\\x")...)
			out = append(out, "0123456789abcdef"[r>>4], "0123456789abcdef"[r&15])
		default:
			out = append(out, string(r)...)
		}
	}
	return string(append(out, '"'))
}
