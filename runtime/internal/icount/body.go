package icount

import "fmt"

// Opcodes that shape control flow.
const (
	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opIf          = 0x04
	opElse        = 0x05
	opEnd         = 0x0b
	opBr          = 0x0c
	opBrIf        = 0x0d
	opBrTable     = 0x0e
	opReturn      = 0x0f
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opI64Const    = 0x42
	opI32Eqz      = 0x45
	opI32Sub      = 0x6b
	opI32Or       = 0x72
	opI64Add      = 0x7c
	opDrop        = 0x1a
	opPrefixFC    = 0xfc
)

// Immediate shapes of the ordinary (non-control) instructions.
const (
	immInvalid     = iota // not an opcode of the supported instruction set
	immNone               // no immediate
	immU32                // one index (local, global, function, table, memory)
	immU32x2              // two indices (call_indirect: type, table)
	immMemarg             // alignment and offset
	immS32                // i32.const
	immS64                // i64.const
	immF32                // f32.const: 4 bytes
	immF64                // f64.const: 8 bytes
	immRefType            // ref.null: one reference type byte
	immSelectT            // typed select: vector of value types
	immPrefixFC           // 0xFC prefix: a sub-opcode follows
	immUnsupported        // defined by a proposal this package does not handle
)

// immediates maps each single-byte opcode to the shape of its immediates.
// Control instructions are handled before this table is consulted.
var immediates = func() (t [256]uint8) {
	t[0x01] = immNone // nop
	t[0x10] = immU32  // call
	t[0x11] = immU32x2
	t[0x1a], t[0x1b] = immNone, immNone // drop, select
	t[0x1c] = immSelectT
	for op := 0x20; op <= 0x26; op++ { // local.get/set/tee, global.get/set, table.get/set
		t[op] = immU32
	}
	for op := 0x28; op <= 0x3e; op++ { // loads and stores
		t[op] = immMemarg
	}
	t[0x3f], t[0x40] = immU32, immU32 // memory.size, memory.grow (memory index)
	t[0x41], t[0x42], t[0x43], t[0x44] = immS32, immS64, immF32, immF64
	for op := 0x45; op <= 0xc4; op++ { // numeric, conversions, sign extension
		t[op] = immNone
	}
	t[0xd0] = immRefType
	t[0xd1] = immNone // ref.is_null
	t[0xd2] = immU32  // ref.func
	t[opPrefixFC] = immPrefixFC
	for _, op := range []int{
		0x06, 0x07, 0x08, 0x09, 0x0a, 0x18, 0x19, 0x1f, // exception handling
		0x12, 0x13, // tail calls
		0x14, 0x15, 0xd3, 0xd4, 0xd5, 0xd6, // typed function references
		0xfb, // garbage collection
		0xfd, // SIMD
		0xfe, // threads (atomics)
	} {
		t[op] = immUnsupported
	}
	return t
}()

// proposals names the proposal an unsupported opcode belongs to.
func proposal(op byte) string {
	switch op {
	case 0x06, 0x07, 0x08, 0x09, 0x0a, 0x18, 0x19, 0x1f:
		return "exception handling"
	case 0x12, 0x13:
		return "tail call"
	case 0x14, 0x15, 0xd3, 0xd4, 0xd5, 0xd6:
		return "typed function references"
	case 0xfb:
		return "garbage collection"
	case 0xfd:
		return "SIMD"
	case 0xfe:
		return "threads (atomics)"
	}
	return "unknown"
}

// Kinds of control frames. Function frames use kindFunc; the others reuse the
// opcode that opened them.
const kindFunc = 0

// frame is one open structured instruction (or the function itself).
type frame struct {
	kind     byte
	live     bool // control can reach the instruction that opened it
	targeted bool // a reachable branch targets its label
	hasElse  bool
	thenLive bool // (if) the then arm could fall through to its end
}

// counter is one insertion point: at body offset at go the interrupt check
// (when check is set: the function entry and every loop body) and then the
// counting sequence adding n, the number of instructions of the basic block
// that starts there (when n > 0).
type counter struct {
	at    int
	n     int64
	check bool
}

// bodyError is a problem found inside one function body.
type bodyError struct {
	off int // body-relative offset of the instruction
	msg string
	err error // ErrUnsupported or nil
}

func (e *bodyError) Error() string { return e.msg }
func (e *bodyError) Unwrap() error { return e.err }

func bodyErr(off int, format string, args ...any) error {
	return &bodyError{off: off, msg: fmt.Sprintf(format, args...)}
}

func unsupported(off int, format string, args ...any) error {
	return &bodyError{off: off, msg: fmt.Sprintf(format, args...), err: ErrUnsupported}
}

// instrumenter holds per-module settings and scratch space reused from one
// function body to the next.
type instrumenter struct {
	types    uint32 // entries in the type section, to check block type indices
	counter  []byte // encoded index of the counter global; nil: do not count
	check    []byte // the interrupt check (interruptCheck); nil: no checks
	frames   []frame
	counters []counter
}

// scan decodes one function body (the bytes after its locals, through its
// final end), checks its structure and computes where basic blocks start and
// how many instructions each holds, into in.counters.
//
// The rule (see the package documentation): every executed instruction
// counts 1, except the end and else markers; a basic block starts at the
// function entry, at the start of a loop body (a branch target), at the start
// of each arm of an if, after a br_if (the fall-through path), and after the
// end of a block or if that control can reach other than by falling through
// from the current block. Code after br, br_table, return and unreachable is
// dead until the enclosing end or else: it never runs, gets no counter and
// counts nothing.
//
// The function entry and every loop body, dead or live, are marked for an
// interrupt check: a check in dead code is valid and never runs, and marking
// every loop keeps the interrupt guarantee independent of the liveness
// analysis.
func (in *instrumenter) scan(body []byte) error {
	in.frames = append(in.frames[:0], frame{kind: kindFunc, live: true})
	in.counters = append(in.counters[:0], counter{at: 0, check: true})
	cur := 0 // index of the current basic block in in.counters, -1 when dead
	open := func(at int) int {
		in.counters = append(in.counters, counter{at: at})
		return len(in.counters) - 1
	}
	target := func(at int, depth uint32) error {
		if uint64(depth) >= uint64(len(in.frames)) {
			return bodyErr(at, "branch depth %d exceeds the %d enclosing labels", depth, len(in.frames))
		}
		if cur >= 0 {
			in.frames[len(in.frames)-1-int(depth)].targeted = true
		}
		return nil
	}
	var err error
	for p := 0; p < len(body); {
		at := p
		op := body[p]
		p++
		switch op {
		case opBlock, opLoop, opIf:
			if p, err = in.blockType(body, p); err != nil {
				return err
			}
			live := cur >= 0
			if live {
				in.counters[cur].n++
			}
			in.frames = append(in.frames, frame{kind: op, live: live})
			if live && op != opBlock {
				// A loop body is a branch target; an if arm runs conditionally.
				cur = open(p)
			}
			if op == opLoop {
				if !live {
					in.counters = append(in.counters, counter{at: p})
				}
				in.counters[len(in.counters)-1].check = true
			}

		case opElse:
			f := &in.frames[len(in.frames)-1]
			if f.kind != opIf || f.hasElse {
				return bodyErr(at, "else without a matching if")
			}
			f.hasElse = true
			f.thenLive = cur >= 0
			cur = -1
			if f.live {
				cur = open(p)
			}

		case opEnd:
			f := in.frames[len(in.frames)-1]
			in.frames = in.frames[:len(in.frames)-1]
			if len(in.frames) == 0 {
				if p != len(body) {
					return bodyErr(p, "%d bytes after the function's final end", len(body)-p)
				}
				return nil
			}
			// Can control arrive here other than by falling through from
			// the current block? Then a new block starts.
			joined := f.targeted
			if f.kind == opIf {
				if f.hasElse {
					joined = joined || f.thenLive
				} else {
					joined = joined || f.live // the false edge skips the then arm
				}
			}
			if f.kind != opLoop && joined {
				cur = open(p)
			}

		case opBr, opBrIf:
			var depth uint32
			if depth, p, err = readU32(body, p); err != nil {
				return bodyErr(at, "branch depth: %v", err)
			}
			if err = target(at, depth); err != nil {
				return err
			}
			if cur >= 0 {
				in.counters[cur].n++
				if op == opBr {
					cur = -1
				} else {
					cur = open(p)
				}
			}

		case opBrTable:
			var n, depth uint32
			if n, p, err = readU32(body, p); err != nil {
				return bodyErr(at, "br_table size: %v", err)
			}
			for i := uint64(0); i <= uint64(n); i++ { // n labels and the default
				if depth, p, err = readU32(body, p); err != nil {
					return bodyErr(at, "br_table label %d: %v", i, err)
				}
				if err = target(at, depth); err != nil {
					return err
				}
			}
			if cur >= 0 {
				in.counters[cur].n++
				cur = -1
			}

		case opReturn, opUnreachable:
			if cur >= 0 {
				in.counters[cur].n++
				cur = -1
			}

		default:
			if p, err = skipImmediates(body, at, p); err != nil {
				return err
			}
			if cur >= 0 {
				in.counters[cur].n++
			}
		}
	}
	return bodyErr(len(body), "function body ends inside %d unclosed blocks", len(in.frames))
}

// blockType skips the block type of block, loop or if: 0x40 (no values), one
// value type, or a type index (multi-value) encoded as a non-negative s33.
func (in *instrumenter) blockType(body []byte, p int) (int, error) {
	if p >= len(body) {
		return p, bodyErr(p, "truncated block type")
	}
	switch body[p] {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return p + 1, nil
	}
	idx, q, err := readS33(body, p)
	if err != nil {
		return q, bodyErr(p, "block type: %v", err)
	}
	if idx < 0 {
		return q, bodyErr(p, "unknown block type 0x%02x", body[p])
	}
	if idx >= int64(in.types) {
		return q, bodyErr(p, "block type index %d out of range (%d types)", idx, in.types)
	}
	return q, nil
}

// skipImmediates returns the position after the immediates of the
// non-control instruction whose opcode is at body[at] (p = at+1).
func skipImmediates(body []byte, at, p int) (int, error) {
	op := body[at]
	var err error
	switch immediates[op] {
	case immNone:
		return p, nil
	case immU32:
		_, p, err = readU32(body, p)
	case immU32x2:
		if _, p, err = readU32(body, p); err == nil {
			_, p, err = readU32(body, p)
		}
	case immMemarg:
		var align uint32
		if align, p, err = readU32(body, p); err == nil {
			if align&0x40 != 0 {
				return p, unsupported(at, "memory access with a memory index (multi-memory)")
			}
			_, p, err = readU32(body, p)
		}
	case immS32:
		p, err = skipLEB(body, p, 5)
	case immS64:
		p, err = skipLEB(body, p, 10)
	case immF32:
		if len(body)-p < 4 {
			return p, bodyErr(at, "truncated f32.const")
		}
		return p + 4, nil
	case immF64:
		if len(body)-p < 8 {
			return p, bodyErr(at, "truncated f64.const")
		}
		return p + 8, nil
	case immRefType:
		if p >= len(body) {
			return p, bodyErr(at, "truncated ref.null")
		}
		if t := body[p]; t != 0x70 && t != 0x6f {
			return p, unsupported(at, "ref.null with heap type 0x%02x", t)
		}
		return p + 1, nil
	case immSelectT:
		var n uint32
		if n, p, err = readU32(body, p); err == nil {
			if uint64(n) > uint64(len(body)-p) {
				return p, bodyErr(at, "typed select with %d types runs past the body", n)
			}
			p += int(n)
		}
	case immPrefixFC:
		return skipFC(body, at, p)
	case immUnsupported:
		return p, unsupported(at, "%s instruction (opcode 0x%02x)", proposal(op), op)
	default:
		return p, bodyErr(at, "unknown opcode 0x%02x", op)
	}
	if err != nil {
		return p, bodyErr(at, "immediate of opcode 0x%02x: %v", op, err)
	}
	return p, nil
}

// skipFC handles the 0xFC prefix: saturating truncations (0-7), bulk memory
// (8-11) and table instructions (12-17).
func skipFC(body []byte, at, p int) (int, error) {
	sub, p, err := readU32(body, p)
	if err != nil {
		return p, bodyErr(at, "0xfc sub-opcode: %v", err)
	}
	var indices int
	switch sub {
	case 0, 1, 2, 3, 4, 5, 6, 7: // i32/i64.trunc_sat_f32/f64_s/u
		indices = 0
	case 9, 11, 13, 15, 16, 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
		indices = 1
	case 8, 10, 12, 14: // memory.init, memory.copy, table.init, table.copy
		indices = 2
	default:
		return p, unsupported(at, "instruction 0xfc %d", sub)
	}
	for i := 0; i < indices; i++ {
		if _, p, err = readU32(body, p); err != nil {
			return p, bodyErr(at, "immediate of instruction 0xfc %d: %v", sub, err)
		}
	}
	return p, nil
}

// emit appends body to dst with, where each marked point is, the interrupt
// check (if enabled) and then the counting sequence of the non-empty basic
// block that starts there (if counting). The check comes first so that an
// interrupted block is not counted, and it is never counted itself: the
// counts come from scanning the original body.
func (in *instrumenter) emit(dst, body []byte) []byte {
	prev := 0
	for _, c := range in.counters {
		check := c.check && in.check != nil
		count := c.n > 0 && in.counter != nil
		if !check && !count {
			continue
		}
		dst = append(dst, body[prev:c.at]...)
		if check {
			dst = append(dst, in.check...)
		}
		if count {
			dst = append(dst, opGlobalGet)
			dst = append(dst, in.counter...)
			dst = append(dst, opI64Const)
			dst = appendS64(dst, c.n)
			dst = append(dst, opI64Add, opGlobalSet)
			dst = append(dst, in.counter...)
		}
		prev = c.at
	}
	return append(dst, body[prev:]...)
}

// interruptCheck encodes the check inserted at every function entry and loop
// body start, given the indices of the flag and of its countdown:
//
//	global.get $tick  i32.const 1  i32.sub  global.set $tick
//	global.get $tick  i32.eqz  global.get $flag  i32.or
//	if                                   ;; countdown expired or flag set
//	  i32.const YieldInterval  global.set $tick
//	  i32.const 0  memory.grow 0  drop   ;; exit to the host: Go can preempt here
//	  global.get $flag
//	  if  unreachable  end               ;; interrupted
//	end
//
// It is stack-neutral and its blocks have the empty type, so it is valid at
// any function or loop start, whatever parameters the loop has on the stack.
// The memory.grow operand is an i64 when memory 0 is 64-bit.
func interruptCheck(flag, tick uint32, memory64 bool) []byte {
	f, t := appendU32(nil, flag), appendU32(nil, tick)
	var b []byte
	get := func(idx []byte) { b = append(append(b, opGlobalGet), idx...) }
	set := func(idx []byte) { b = append(append(b, opGlobalSet), idx...) }
	get(t)
	b = append(b, opI32Const, 1, opI32Sub)
	set(t)
	get(t)
	b = append(b, opI32Eqz)
	get(f)
	b = append(b, opI32Or, opIf, 0x40, opI32Const)
	b = appendS64(b, YieldInterval)
	set(t)
	if memory64 {
		b = append(b, opI64Const, 0)
	} else {
		b = append(b, opI32Const, 0)
	}
	b = append(b, opMemoryGrow, 0, opDrop)
	get(f)
	return append(b, opIf, 0x40, opUnreachable, opEnd, opEnd)
}
