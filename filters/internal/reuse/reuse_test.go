package reuse

import "testing"

type ctx struct {
	id   int
	data []byte
}

func TestPool(t *testing.T) {
	var p Pool[ctx]
	a := p.Get()
	a.id, a.data = 7, []byte("x")
	p.Put(a)
	if p.Len() != 1 {
		t.Fatalf("len %d", p.Len())
	}
	b := p.Get()
	if b != a {
		t.Error("not recycled")
	}
	if b.id != 0 || b.data != nil {
		t.Errorf("recycled context not zeroed: %+v", b)
	}
	if c := p.Get(); c == b {
		t.Error("same context handed out twice")
	}
	for i := 0; i < maxFree+10; i++ {
		p.Put(new(ctx))
	}
	if p.Len() != maxFree {
		t.Errorf("free list grew to %d", p.Len())
	}
}
