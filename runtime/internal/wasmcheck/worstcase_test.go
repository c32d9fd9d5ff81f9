package wasmcheck

import (
	"bytes"
	"fmt"
	"testing"
)

// worstCaseSize is roughly the size of each worst-case module.
const worstCaseSize = 512 << 10

// worstCases are modules Check accepts that pack as many entries of one
// kind into their bytes as the format and the limits allow, each of about
// worstCaseSize bytes: what an attacker gets out of wazero once Check has
// run. (Some, like the imports without a field name, wazero then rejects,
// after decoding them all.)
func worstCases() []struct {
	name string
	wasm []byte
} {
	funcType := sec(idType, vec(1, []byte{0x60, 0, 0}))
	n := func(each int) int { return worstCaseSize / each }
	repeat := func(count int, entry []byte) []byte { return vec(uint64(count), bytes.Repeat(entry, count)) }

	// Bodies declaring the most locals the allowance leaves: 50,000 each,
	// plus one body of nops that makes the code section worstCaseSize bytes.
	manyLocals := cat([]byte{6, 1}, uleb(nil, MaxLocalsPerFunction), []byte{0x7f, 0x0b})
	bodies := worstCaseSize / MaxLocalsPerFunction
	filler := cat([]byte{0}, bytes.Repeat([]byte{0x01}, worstCaseSize-bodies*len(manyLocals)), []byte{0x0b})
	code := cat(uleb(nil, uint64(bodies+1)), bytes.Repeat(manyLocals, bodies), uleb(nil, uint64(len(filler))), filler)

	var exports []byte
	for i := 0; i < n(8); i++ {
		exports = append(exports, str(fmt.Sprintf("%05x", i))...)
		exports = append(exports, 0, 0)
	}
	return []struct {
		name string
		wasm []byte
	}{
		{"types", mod(sec(idType, repeat(n(3), []byte{0x60, 0, 0})))},
		{"parameters", mod(sec(idType, repeat(n(MaxParams+3), cat([]byte{0x60}, uleb(nil, MaxParams), bytes.Repeat([]byte{0x7f}, MaxParams), []byte{0}))))},
		{"function imports", mod(funcType, sec(idImport, repeat(n(5), []byte{1, 'm', 0, 0, 0})))},
		{"functions", mod(funcType, sec(idFunction, repeat(n(4), []byte{0})), sec(idCode, repeat(n(4), []byte{2, 0, 0x0b})))},
		{"locals", mod(funcType, sec(idFunction, repeat(bodies+1, []byte{0})), sec(idCode, code))},
		{"globals", mod(sec(idGlobal, repeat(n(5), []byte{0x7f, 0, 0x41, 0, 0x0b})))},
		{"exports", mod(funcType, sec(idFunction, vec(1, []byte{0})), sec(idExport, vec(uint64(n(8)), exports)), sec(idCode, vec(1, []byte{2, 0, 0x0b})))},
		{"element entries", mod(funcType, sec(idFunction, vec(1, []byte{0})), sec(idTable, vec(1, []byte{0x70, 0, 1})),
			sec(idElement, vec(1, []byte{0, 0x41, 0, 0x0b}, repeat(n(1), []byte{0}))), sec(idCode, vec(1, []byte{2, 0, 0x0b})))},
		{"element segments", mod(funcType, sec(idFunction, vec(1, []byte{0})), sec(idElement, repeat(min(n(4), MaxElementSegments), []byte{1, 0, 1, 0})),
			sec(idCode, vec(1, []byte{2, 0, 0x0b})))},
		{"data segments", mod(sec(idData, repeat(min(n(2), MaxDataSegments), []byte{1, 0})))},
		{"custom sections", mod(bytes.Repeat([]byte{idCustom, 1, 0}, n(3)), sec(idType, vec(0)))},
		{"function names", mod(sec(idCustom, str("name"), sec(1, repeat(n(2), []byte{0, 0}))))},
		{"local names", mod(sec(idCustom, str("name"), sec(2, vec(1, []byte{0}, repeat(min(n(2), MaxLocalNames), []byte{0, 0})))))},
		{"functions with local names", mod(sec(idCustom, str("name"), sec(2, repeat(n(2), []byte{0, 0}))))},
	}
}

// TestWorstCases: for each worst case, Check accepts it and compiling it
// stays within the allocation budget the fuzz test holds every accepted
// input to.
func TestWorstCases(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles several megabytes of adversarial modules")
	}
	for _, tc := range worstCases() {
		t.Run(tc.name, func(t *testing.T) {
			if err := Check(tc.wasm); err != nil {
				t.Fatalf("Check refused it: %v", err)
			}
			o := compileInChild(t, tc.wasm)
			t.Logf("%d bytes: %v (per input byte: %.1f allocated, %.1f peak)", len(tc.wasm), o,
				float64(o.alloc)/float64(len(tc.wasm)), float64(o.peak)/float64(len(tc.wasm)))
			if o.kind > rejected {
				t.Fatalf("wazero %v", o)
			}
			if o.alloc > allocBudget(len(tc.wasm)) {
				t.Fatalf("compiling it allocated %d bytes, more than the budget of %d", o.alloc, allocBudget(len(tc.wasm)))
			}
		})
	}
}
