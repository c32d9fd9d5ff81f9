package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"net/netip"
	"reflect"
	"sync"
	"testing"

	"github.com/nicrt/nicrt/runtime/internal/abi"
	wabinary "github.com/tetratelabs/wabin/binary"
	"github.com/tetratelabs/wabin/wasm"
)

// The guest-memory readers are fuzzed from wasm: a module built below
// imports every env host function and exports a trampoline "call_<name>"
// for each, so the fuzzer calls each host function through wazero exactly
// as a guest does, with the arguments and the guest memory it chooses. The
// module has no state of its own, so arbitrary writes into its memory are
// harmless, and its allocator hands out one fixed region.
//
//	go test -run '^$' -fuzz FuzzHostCalls -fuzztime 60s ./runtime

const (
	fuzzMemPages  = 2
	fuzzMemSize   = fuzzMemPages * 65536
	fuzzAllocBase = 65536 // proxy_on_memory_allocate's answer for sizes up to 64 KiB (else NULL)
)

// fuzzGuest encodes the trampoline module.
func fuzzGuest() []byte {
	i32, i64 := wasm.ValueTypeI32, wasm.ValueTypeI64
	m := &wasm.Module{MemorySection: &wasm.Memory{Min: fuzzMemPages, Max: fuzzMemPages, IsMaxEncoded: true}}
	for i, f := range envFuncs {
		params := make([]wasm.ValueType, f.params)
		for j := range params {
			params[j] = i32
		}
		for _, j := range f.i64 {
			params[j] = i64
		}
		m.TypeSection = append(m.TypeSection, &wasm.FunctionType{Params: params, Results: []wasm.ValueType{i32}})
		m.ImportSection = append(m.ImportSection, &wasm.Import{Type: wasm.ExternTypeFunc, Module: envModule, Name: f.name, DescFunc: uint32(i)})
		var body []byte
		for j := range f.params {
			body = append(body, 0x20, byte(j)) // local.get j
		}
		body = append(body, 0x10, byte(i), 0x0b) // call i; end
		m.FunctionSection = append(m.FunctionSection, uint32(i))
		m.CodeSection = append(m.CodeSection, &wasm.Code{Body: body})
		m.ExportSection = append(m.ExportSection, &wasm.Export{Type: wasm.ExternTypeFunc, Name: "call_" + f.name, Index: uint32(len(envFuncs) + i)})
	}
	fn := func(name string, t *wasm.FunctionType, body ...byte) {
		m.TypeSection = append(m.TypeSection, t)
		m.FunctionSection = append(m.FunctionSection, uint32(len(m.TypeSection)-1))
		m.CodeSection = append(m.CodeSection, &wasm.Code{Body: body})
		m.ExportSection = append(m.ExportSection, &wasm.Export{Type: wasm.ExternTypeFunc, Name: name, Index: uint32(len(envFuncs) + len(m.FunctionSection) - 1)})
	}
	fn("proxy_abi_version_0_2_1", &wasm.FunctionType{}, 0x0b)
	fn("proxy_on_context_create", &wasm.FunctionType{Params: []wasm.ValueType{i32, i32}}, 0x0b)
	// size > 65536 ? 0 : 65536
	fn("proxy_on_memory_allocate", &wasm.FunctionType{Params: []wasm.ValueType{i32}, Results: []wasm.ValueType{i32}},
		0x20, 0, 0x41, 0x80, 0x80, 0x04, 0x4b, 0x04, 0x7f, 0x41, 0x00, 0x05, 0x41, 0x80, 0x80, 0x04, 0x0b, 0x0b)
	m.ExportSection = append(m.ExportSection, &wasm.Export{Type: wasm.ExternTypeMemory, Name: "memory", Index: 0})
	return wabinary.EncodeModule(m)
}

// fuzzEnv is one host and one VM of the trampoline module, shared by the
// iterations of a fuzzing process.
type fuzzEnv struct {
	h *Host
	p *Plugin
}

var (
	fuzzOnce sync.Once
	fuzzE    fuzzEnv
	fuzzErr  error
)

func newFuzzEnv() (fuzzEnv, error) {
	fuzzOnce.Do(func() {
		h, err := NewHost(context.Background(), HostConfig{
			Logger:           discard(),
			NodeID:           "n",
			NodeMetadata:     map[string]string{"k": "v"},
			ForeignFunctions: map[string]ForeignFunc{"echo": func(b []byte) ([]byte, error) { return b, nil }},
			Clusters:         func(string) (string, bool) { return "", false },
		})
		if err != nil {
			fuzzErr = err
			return
		}
		p, err := h.Load(context.Background(), fuzzGuest(), PluginConfig{Name: "fuzz", PoolSize: 1, Configuration: []byte("cfg")})
		if err != nil {
			fuzzErr = err
			return
		}
		fuzzE = fuzzEnv{h, p}
	})
	return fuzzE, fuzzErr
}

// fuzzArgs spreads b over a function's parameters, four bytes each (i64
// parameters sign-extend, so negative deltas occur).
func fuzzArgs(f hostFunc, b []byte) []uint64 {
	args := make([]uint64, f.params)
	for i := range args {
		var w [4]byte
		if len(b) > 4*i {
			copy(w[:], b[4*i:])
		}
		args[i] = uint64(binary.LittleEndian.Uint32(w[:]))
	}
	for _, i := range f.i64 {
		args[i] = uint64(int64(int32(args[i])))
	}
	return args
}

// streamState is what a host call may change on the host side, copied so
// that later changes to guest memory can be told apart.
type streamState struct {
	fields [4]Fields
	body   [2][]byte
	local  *LocalResponse
	props  map[string][]byte
}

func snapshot(s *Stream) streamState {
	st := streamState{props: map[string][]byte{}}
	for i, f := range []*Fields{s.reqHeaders, s.reqTrailers, s.respHeaders, s.respTrailers} {
		st.fields[i] = f.Clone()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for d := range s.dirs {
		st.body[d] = bytes.Clone(s.dirs[d].body)
	}
	if s.local != nil {
		lr := *s.local
		lr.Headers = lr.Headers.Clone()
		lr.Body = bytes.Clone(lr.Body)
		st.local = &lr
	}
	for k, v := range s.props {
		st.props[k] = bytes.Clone(v)
	}
	return st
}

// FuzzHostCalls: any host function, any arguments, any guest memory, any
// stream phase: the call answers a specification status (or fails the one
// deliberate way, a refused allocation) and never panics; what it stores
// host-side is a copy, not a view of guest memory; header names it stores
// are lowercase. The seeds (run by plain go test) give each function valid
// pointers to a key, a property path and a serialized map, and hostile ones.
func FuzzHostCalls(f *testing.F) {
	var m bytes.Buffer
	m.WriteString("x-test\x00request\x00path\x00") // key at 0 (6 bytes), property path at 7 (12 bytes)
	m.Write(make([]byte, 64-m.Len()))
	mb := make([]byte, abi.EncodedSize(2, len("x-test1:ab"))) // map at 64 (34 bytes)
	w := abi.NewMapWriter(mb, 2)
	w.Add("x-test", "1")
	w.Add(":a", "b")
	m.Write(mb)
	mem := m.Bytes()
	u32s := func(v ...uint32) []byte {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], x)
		}
		return b
	}
	for i := range envFuncs {
		for _, ph := range []uint8{0, 1, 0x12, 0x25} {
			f.Add(uint8(i), ph, mem, u32s(0, 0, 6, 256, 260, 264, 268, 272, 276, 280, 284, 288))
			f.Add(uint8(i), ph, mem, u32s(64, 34, 0, 6, 64, 34, 256, 260, 100, 264, 268, 272))
			f.Add(uint8(i), ph, mem, u32s(7, 12, 256, 260, 0, 6, 64, 34, 0, 0, 0, 280))
			f.Add(uint8(i), ph, mem, u32s(0xffffffff, 0xfffffff0, 0x7fffffff, fuzzMemSize-2, 0xffffffff, fuzzMemSize, 0x10000, 0xffffffff, 3, 0xffffffff, 0, 0))
		}
	}
	env, err := newFuzzEnv()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, fnIndex uint8, mode uint8, mem []byte, argBytes []byte) {
		hf := envFuncs[int(fnIndex)%len(envFuncs)]
		v := env.p.vms[0].Load()
		if v == nil || v.dead.Load() {
			t.Fatalf("the fuzzing VM died: %v", v.deathReason())
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		defer v.stopTick()

		// A stream in the phase the fuzzer picked, with maps and bodies in
		// both directions; sometimes an HTTP call response, sometimes the
		// root context.
		s := newStream(NewChain(env.p), StreamInfo{
			Source: netip.MustParseAddrPort("127.0.0.1:1"), Destination: netip.MustParseAddrPort("127.0.0.2:2"), ConnectionID: 3,
		})
		c := &s.ctxs[0]
		c.v, c.id, c.created = v, v.newContextID(), true
		v.ctxs[c.id] = c
		defer delete(v.ctxs, c.id)
		req, rtr := request("fuzz", "x-in", "v"), Fields{{"x-t", "1"}}
		resp, ptr := Fields{{":status", "200"}, {"x-r", "r"}}, Fields{{"x-rt", "2"}}
		s.reqHeaders, s.reqTrailers, s.respHeaders, s.respTrailers = &req, &rtr, &resp, &ptr
		s.dirs[dirRequest].phase.store(phase(mode % 4))
		s.dirs[dirResponse].phase.store(phase((mode >> 2) % 4))
		s.dirs[dirRequest].body, s.dirs[dirResponse].body = []byte("request body"), []byte("response body")
		v.cur = c
		if mode&0x10 != 0 {
			v.cur = nil
		}
		if mode&0x20 != 0 {
			v.callResp = &callResponse{headers: Fields{{":status", "200"}, {"x-c", "c"}}, trailers: Fields{{"x-ct", "t"}}, body: []byte("call body"), status: 200, message: "ok"}
		}
		defer func() { v.cur, v.callResp = nil, nil }()

		buf, _ := v.mem.Read(0, fuzzMemSize)
		clear(buf)
		copy(buf, mem)
		args := fuzzArgs(hf, argBytes)
		res, err := v.mod.ExportedFunction("call_"+hf.name).Call(v.ctx, args...)
		if err != nil {
			// The one error a host function raises on purpose: the guest's
			// allocator refused (this one answers NULL above 64 KiB).
			var af allocFailure
			if !errors.As(err, &af) {
				t.Fatalf("%s%v: %v", hf.name, args, err)
			}
			return
		}
		if st := abi.Status(res[0]); st.String() == "UNKNOWN_STATUS" {
			t.Fatalf("%s%v returned status %d", hf.name, args, res[0])
		}
		// Whatever the call stored host-side must not alias guest memory:
		// scribble over it and compare.
		before := snapshot(s)
		for i := range buf {
			buf[i] = 0xa5
		}
		after := snapshot(s)
		if !reflect.DeepEqual(before.fields, after.fields) || !reflect.DeepEqual(before.body, after.body) ||
			!reflect.DeepEqual(before.local, after.local) || !maps.EqualFunc(before.props, after.props, bytes.Equal) {
			t.Fatalf("%s%v: host state changed with guest memory:\nbefore %+v\nafter  %+v", hf.name, args, before, after)
		}
		for _, fs := range after.fields {
			for _, f := range fs {
				if f.Name != lower(f.Name) {
					t.Fatalf("%s%v stored a header name that is not lowercase: %q", hf.name, args, f.Name)
				}
			}
		}
	})
}
