;; A minimal Proxy-Wasm guest that uses one SIMD instruction, which the
;; interruption rewrite refuses, so nicrt must guard it another way. Its
;; proxy_on_request_headers spins forever when the request has 2 headers and
;; continues otherwise.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32)
    ;; a SIMD instruction, executed: splat and extract a lane
    (drop (i32x4.extract_lane 0 (i32x4.splat (local.get 0)))))
  (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
    (if (i32.eq (local.get $n) (i32.const 2))
      (then (loop $spin (br $spin))))
    (i32.const 0)))
