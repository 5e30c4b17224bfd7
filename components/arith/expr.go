package arith

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file compiles an Expression's formula: a hand-written parser that
// type-checks as it goes and reports the byte offset of the first mistake,
// and a stack machine whose evaluation allocates nothing.
//
// Grammar, loosest first:
//
//	cond    = or [ "?" cond ":" cond ]
//	or      = and { "||" and }
//	and     = cmp { "&&" cmp }
//	cmp     = sum [ ("<" | "<=" | ">" | ">=" | "==" | "!=") sum ]
//	sum     = product { ("+" | "-") product }
//	product = unary { ("*" | "/" | "%") unary }
//	unary   = ("-" | "+" | "!") unary | power
//	power   = primary [ "^" unary ]
//	primary = number | name | name "(" cond { "," cond } ")" | "(" cond ")"
//
// Types are number and bool: arithmetic takes numbers, && || ! take bools,
// comparisons give bools, and both branches of ?: have one type.

// typ is the type of an expression.
type typ uint8

const (
	tNum typ = iota
	tBool
)

func (t typ) String() string {
	if t == tBool {
		return "bool"
	}
	return "number"
}

// exprError is a mistake at a byte offset of the formula.
type exprError struct {
	off int
	msg string
}

func (e *exprError) Error() string { return e.msg }

// opcode is one instruction of the stack machine.
type opcode uint8

const (
	opPush opcode = iota // push k
	opLoad               // push input a
	opNeg                // x -> -x
	opNot                // b -> !b
	opAdd                // x y -> x+y (and so on)
	opSub
	opMul
	opDiv
	opMod
	opPow
	opLT // x y -> x<y
	opLE
	opGT
	opGE
	opEQ
	opNE
	opJumpFalse // pop b; jump to a if false
	opJump      // jump to a
	opAndJump   // b false: keep it and jump to a; true: pop it
	opOrJump    // b true: keep it and jump to a; false: pop it
	opFn1       // x -> fn1[a](x)
	opFn2       // x y -> fn2[a](x, y)
	opMin       // a values -> the smallest
	opMax       // a values -> the largest
	opClamp     // x lo hi -> x clamped to [lo, hi]
)

type instr struct {
	op opcode
	a  int
	k  float64
}

// program is a compiled formula.
type program struct {
	code  []instr
	depth int    // stack slots it needs
	out   typ    // type of the result
	used  []bool // per input: whether the formula reads it
	stack []float64
}

var fn1 = []struct {
	name string
	f    func(float64) float64
}{
	{"abs", math.Abs}, {"sqrt", math.Sqrt}, {"exp", math.Exp}, {"ln", math.Log}, {"log10", math.Log10},
	{"sin", math.Sin}, {"cos", math.Cos}, {"tan", math.Tan}, {"asin", math.Asin}, {"acos", math.Acos},
	{"atan", math.Atan}, {"floor", math.Floor}, {"ceil", math.Ceil}, {"round", math.Round}, {"trunc", math.Trunc},
	{"sign", sign},
}

var fn2 = []struct {
	name string
	f    func(float64, float64) float64
}{
	{"pow", math.Pow}, {"atan2", math.Atan2}, {"hypot", math.Hypot},
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x // 0, -0 and NaN as they are
}

var constants = map[string]float64{"pi": math.Pi, "e": math.E}

// reserved reports whether a name belongs to the formula language, so that
// an input cannot be called that.
func reserved(name string) bool {
	if _, ok := constants[name]; ok || name == "true" || name == "false" {
		return true
	}
	switch name {
	case "min", "max", "clamp":
		return true
	}
	for _, f := range fn1 {
		if f.name == name {
			return true
		}
	}
	for _, f := range fn2 {
		if f.name == name {
			return true
		}
	}
	return false
}

func functionNames() string {
	var names []string
	for _, f := range fn1 {
		names = append(names, f.name)
	}
	for _, f := range fn2 {
		names = append(names, f.name)
	}
	return strings.Join(append(names, "min", "max", "clamp"), ", ")
}

// compile parses and type-checks src over the named inputs.
func compile(src string, inputs []string) (*program, error) {
	p := &parser{src: src, inputs: inputs, prog: &program{used: make([]bool, len(inputs))}}
	p.next()
	t, err := p.cond()
	switch {
	case err != nil:
	case p.tok.kind == tBad:
		_, err = p.primary()
	case p.tok.kind == tName || p.tok.kind == tNumber || p.is("("):
		err = p.errAt(p.tok.off, "missing an operator before %s", p.tok)
	case p.tok.kind != tEOF:
		err = p.errAt(p.tok.off, "unexpected %s", p.tok)
	}
	if err != nil {
		return nil, err
	}
	p.prog.out = t
	p.prog.stack = make([]float64, p.prog.depth)
	return p.prog, nil
}

// tokens

type tokKind uint8

const (
	tEOF tokKind = iota
	tNumber
	tName
	tOp
	tBad
)

type token struct {
	kind tokKind
	text string
	off  int
	num  float64
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of the formula"
	case tNumber:
		return "number " + t.text
	case tName:
		return "name " + strconv.Quote(t.text)
	}
	return strconv.Quote(t.text)
}

type parser struct {
	src    string
	pos    int
	tok    token
	inputs []string
	prog   *program
	sp     int // stack depth at this point of the code
}

func (p *parser) errAt(off int, format string, args ...any) error {
	return &exprError{off: off, msg: fmt.Sprintf(format, args...)}
}

var twoCharOps = []string{"<=", ">=", "==", "!=", "&&", "||"}

func (p *parser) next() {
	s := p.src
	for p.pos < len(s) && (s[p.pos] == ' ' || s[p.pos] == '\t' || s[p.pos] == '\n' || s[p.pos] == '\r') {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(s) {
		p.tok = token{kind: tEOF, off: start}
		return
	}
	c := s[p.pos]
	switch {
	case isDigit(c) || (c == '.' && p.pos+1 < len(s) && isDigit(s[p.pos+1])):
		for p.pos < len(s) && (isDigit(s[p.pos]) || s[p.pos] == '.') {
			p.pos++
		}
		if p.pos < len(s) && (s[p.pos] == 'e' || s[p.pos] == 'E') {
			q := p.pos + 1
			if q < len(s) && (s[q] == '+' || s[q] == '-') {
				q++
			}
			if q < len(s) && isDigit(s[q]) {
				for q < len(s) && isDigit(s[q]) {
					q++
				}
				p.pos = q
			}
		}
		text := s[start:p.pos]
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			p.tok = token{kind: tBad, text: text, off: start}
			return
		}
		p.tok = token{kind: tNumber, text: text, off: start, num: f}
	case isLetter(c):
		for p.pos < len(s) && (isLetter(s[p.pos]) || isDigit(s[p.pos])) {
			p.pos++
		}
		p.tok = token{kind: tName, text: s[start:p.pos], off: start}
	default:
		for _, op := range twoCharOps {
			if strings.HasPrefix(s[p.pos:], op) {
				p.pos += 2
				p.tok = token{kind: tOp, text: op, off: start}
				return
			}
		}
		if strings.IndexByte("+-*/%^<>!?:(),", c) >= 0 {
			p.pos++
			p.tok = token{kind: tOp, text: s[start:p.pos], off: start}
			return
		}
		p.tok = token{kind: tBad, text: s[start : start+1], off: start}
	}
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func (p *parser) is(op string) bool { return p.tok.kind == tOp && p.tok.text == op }

// emit appends an instruction that changes the stack depth by d.
func (p *parser) emit(in instr, d int) int {
	p.prog.code = append(p.prog.code, in)
	p.sp += d
	p.prog.depth = max(p.prog.depth, p.sp)
	return len(p.prog.code) - 1
}

func (p *parser) patch(at int) { p.prog.code[at].a = len(p.prog.code) }

// want checks an operand's type, pointing at the operand.
func (p *parser) want(t, w typ, off int, what string) error {
	if t != w {
		return p.errAt(off, "%s needs a %s here, got a %s", what, w, t)
	}
	return nil
}

func (p *parser) cond() (typ, error) {
	off := p.tok.off
	t, err := p.or()
	if err != nil || !p.is("?") {
		return t, err
	}
	if err := p.want(t, tBool, off, "the condition of ?:"); err != nil {
		return t, err
	}
	p.next()
	jf := p.emit(instr{op: opJumpFalse}, -1)
	a, err := p.cond()
	if err != nil {
		return a, err
	}
	if !p.is(":") {
		return a, p.errAt(p.tok.off, "want : to go with ?, got %s", p.tok)
	}
	p.next()
	j := p.emit(instr{op: opJump}, -1) // the else branch starts at the depth before a
	p.patch(jf)
	bOff := p.tok.off
	b, err := p.cond()
	if err != nil {
		return b, err
	}
	p.patch(j)
	if a != b {
		return a, p.errAt(bOff, "the branches of ?: differ: a %s, then a %s", a, b)
	}
	return a, nil
}

func (p *parser) logic(op string, jump opcode, sub func() (typ, error)) (typ, error) {
	off := p.tok.off
	t, err := sub()
	if err != nil || !p.is(op) {
		return t, err
	}
	if err := p.want(t, tBool, off, op); err != nil {
		return t, err
	}
	var jumps []int
	for p.is(op) {
		p.next()
		jumps = append(jumps, p.emit(instr{op: jump}, -1))
		off := p.tok.off
		u, err := sub()
		if err != nil {
			return u, err
		}
		if err := p.want(u, tBool, off, op); err != nil {
			return u, err
		}
	}
	for _, j := range jumps {
		p.patch(j)
	}
	return tBool, nil
}

func (p *parser) or() (typ, error)  { return p.logic("||", opOrJump, p.and) }
func (p *parser) and() (typ, error) { return p.logic("&&", opAndJump, p.cmp) }

var cmpOps = map[string]opcode{"<": opLT, "<=": opLE, ">": opGT, ">=": opGE, "==": opEQ, "!=": opNE}

func (p *parser) cmp() (typ, error) {
	off := p.tok.off
	t, err := p.sum()
	if err != nil || p.tok.kind != tOp {
		return t, err
	}
	op, ok := cmpOps[p.tok.text]
	if !ok {
		return t, nil
	}
	opTok := p.tok
	p.next()
	uOff := p.tok.off
	u, err := p.sum()
	if err != nil {
		return u, err
	}
	if op != opEQ && op != opNE {
		if err := p.want(t, tNum, off, opTok.text); err != nil {
			return t, err
		}
		if err := p.want(u, tNum, uOff, opTok.text); err != nil {
			return u, err
		}
	} else if t != u {
		return u, p.errAt(uOff, "%s compares a %s with a %s", opTok.text, t, u)
	}
	if _, chained := cmpOps[p.tok.text]; chained && p.tok.kind == tOp {
		return t, p.errAt(p.tok.off, "comparisons do not chain: write a < b && b < c")
	}
	p.emit(instr{op: op}, -1)
	return tBool, nil
}

// binary parses a left-associative chain of number operators.
func (p *parser) binary(ops map[string]opcode, sub func() (typ, error)) (typ, error) {
	off := p.tok.off
	t, err := sub()
	if err != nil {
		return t, err
	}
	for p.tok.kind == tOp {
		op, ok := ops[p.tok.text]
		if !ok {
			break
		}
		name := p.tok.text
		if err := p.want(t, tNum, off, name); err != nil {
			return t, err
		}
		p.next()
		uOff := p.tok.off
		u, err := sub()
		if err != nil {
			return u, err
		}
		if err := p.want(u, tNum, uOff, name); err != nil {
			return u, err
		}
		p.emit(instr{op: op}, -1)
	}
	return t, nil
}

var sumOps = map[string]opcode{"+": opAdd, "-": opSub}
var productOps = map[string]opcode{"*": opMul, "/": opDiv, "%": opMod}

func (p *parser) sum() (typ, error)     { return p.binary(sumOps, p.product) }
func (p *parser) product() (typ, error) { return p.binary(productOps, p.unary) }

func (p *parser) unary() (typ, error) {
	if p.is("-") || p.is("+") || p.is("!") {
		op := p.tok.text
		p.next()
		off := p.tok.off
		t, err := p.unary()
		if err != nil {
			return t, err
		}
		switch op {
		case "!":
			if err := p.want(t, tBool, off, "!"); err != nil {
				return t, err
			}
			p.emit(instr{op: opNot}, 0)
		case "-":
			if err := p.want(t, tNum, off, "unary -"); err != nil {
				return t, err
			}
			p.emit(instr{op: opNeg}, 0)
		default:
			if err := p.want(t, tNum, off, "unary +"); err != nil {
				return t, err
			}
		}
		return t, nil
	}
	return p.power()
}

func (p *parser) power() (typ, error) {
	off := p.tok.off
	t, err := p.primary()
	if err != nil || !p.is("^") {
		return t, err
	}
	if err := p.want(t, tNum, off, "^"); err != nil {
		return t, err
	}
	p.next()
	uOff := p.tok.off
	u, err := p.unary()
	if err != nil {
		return u, err
	}
	if err := p.want(u, tNum, uOff, "^"); err != nil {
		return u, err
	}
	p.emit(instr{op: opPow}, -1)
	return tNum, nil
}

func (p *parser) primary() (typ, error) {
	tok := p.tok
	switch tok.kind {
	case tNumber:
		p.next()
		p.emit(instr{op: opPush, k: tok.num}, 1)
		return tNum, nil
	case tName:
		p.next()
		if p.is("(") {
			return p.call(tok)
		}
		for i, in := range p.inputs {
			if in == tok.text {
				p.prog.used[i] = true
				p.emit(instr{op: opLoad, a: i}, 1)
				return tNum, nil
			}
		}
		if k, ok := constants[tok.text]; ok {
			p.emit(instr{op: opPush, k: k}, 1)
			return tNum, nil
		}
		switch tok.text {
		case "true":
			p.emit(instr{op: opPush, k: 1}, 1)
			return tBool, nil
		case "false":
			p.emit(instr{op: opPush}, 1)
			return tBool, nil
		}
		if reserved(tok.text) {
			return tNum, p.errAt(tok.off, "%s is a function: call it as %s(...)", tok.text, tok.text)
		}
		return tNum, p.errAt(tok.off, "unknown name %q (inputs: %s; constants: pi, e, true, false)", tok.text, strings.Join(p.inputs, ", "))
	case tOp:
		if tok.text == "(" {
			p.next()
			t, err := p.cond()
			if err != nil {
				return t, err
			}
			if !p.is(")") {
				return t, p.errAt(p.tok.off, "want ) to close a (, got %s", p.tok)
			}
			p.next()
			return t, nil
		}
	case tBad:
		if isDigit(tok.text[0]) || tok.text[0] == '.' {
			return tNum, p.errAt(tok.off, "malformed number %q", tok.text)
		}
		return tNum, p.errAt(tok.off, "unexpected character %q", tok.text)
	}
	return tNum, p.errAt(tok.off, "want a number, an input or (, got %s", tok)
}

func (p *parser) call(name token) (typ, error) {
	p.next() // (
	var n int
	for !p.is(")") {
		if n > 0 {
			if !p.is(",") {
				return tNum, p.errAt(p.tok.off, "want , or ) in the arguments of %s, got %s", name.text, p.tok)
			}
			p.next()
		}
		off := p.tok.off
		t, err := p.cond()
		if err != nil {
			return t, err
		}
		if err := p.want(t, tNum, off, name.text); err != nil {
			return t, err
		}
		n++
	}
	p.next() // )
	arity := func(want int) error {
		if n != want {
			return p.errAt(name.off, "%s takes %d argument%s, got %d", name.text, want, plural(want), n)
		}
		return nil
	}
	for i, f := range fn1 {
		if f.name == name.text {
			p.emit(instr{op: opFn1, a: i}, 0)
			return tNum, arity(1)
		}
	}
	for i, f := range fn2 {
		if f.name == name.text {
			p.emit(instr{op: opFn2, a: i}, -1)
			return tNum, arity(2)
		}
	}
	switch name.text {
	case "min", "max":
		if n < 1 {
			return tNum, p.errAt(name.off, "%s takes at least 1 argument", name.text)
		}
		op := opMin
		if name.text == "max" {
			op = opMax
		}
		p.emit(instr{op: op, a: n}, 1-n)
		return tNum, nil
	case "clamp":
		p.emit(instr{op: opClamp}, -2)
		return tNum, arity(3)
	}
	return tNum, p.errAt(name.off, "unknown function %q (functions: %s)", name.text, functionNames())
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// run evaluates the program over the inputs' values. bad reports that a
// comparison or a condition met a NaN, whose outcome means nothing.
func (pr *program) run(in []float64) (v float64, bad bool) {
	st := pr.stack
	sp := 0
	for pc := 0; pc < len(pr.code); pc++ {
		c := &pr.code[pc]
		switch c.op {
		case opPush:
			st[sp] = c.k
			sp++
		case opLoad:
			st[sp] = in[c.a]
			sp++
		case opNeg:
			st[sp-1] = -st[sp-1]
		case opNot:
			st[sp-1] = b2f(st[sp-1] == 0)
		case opAdd, opSub, opMul, opDiv, opMod, opPow:
			x, y := st[sp-2], st[sp-1]
			sp--
			st[sp-1] = arith2(c.op, x, y)
		case opLT, opLE, opGT, opGE, opEQ, opNE:
			x, y := st[sp-2], st[sp-1]
			sp--
			bad = bad || math.IsNaN(x) || math.IsNaN(y)
			st[sp-1] = b2f(compare(c.op, x, y))
		case opJumpFalse:
			sp--
			if st[sp] == 0 {
				pc = c.a - 1
			}
		case opJump:
			pc = c.a - 1
		case opAndJump, opOrJump:
			if (st[sp-1] != 0) == (c.op == opOrJump) {
				pc = c.a - 1
			} else {
				sp--
			}
		case opFn1:
			st[sp-1] = fn1[c.a].f(st[sp-1])
		case opFn2:
			sp--
			st[sp-1] = fn2[c.a].f(st[sp-1], st[sp])
		case opMin, opMax:
			acc := st[sp-c.a]
			for _, x := range st[sp-c.a+1 : sp] {
				if c.op == opMin {
					acc = math.Min(acc, x)
				} else {
					acc = math.Max(acc, x)
				}
			}
			sp -= c.a - 1
			st[sp-1] = acc
		case opClamp:
			x, lo, hi := st[sp-3], st[sp-2], st[sp-1]
			sp -= 2
			st[sp-1] = math.Min(math.Max(x, lo), hi)
		}
	}
	return st[0], bad
}

func arith2(op opcode, x, y float64) float64 {
	switch op {
	case opAdd:
		return x + y
	case opSub:
		return x - y
	case opMul:
		return x * y
	case opDiv:
		return x / y
	case opMod:
		return math.Mod(x, y)
	}
	return math.Pow(x, y)
}

func compare(op opcode, x, y float64) bool {
	switch op {
	case opLT:
		return x < y
	case opLE:
		return x <= y
	case opGT:
		return x > y
	case opGE:
		return x >= y
	case opEQ:
		return x == y
	}
	return x != y
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
