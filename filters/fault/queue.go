package main

// delayQueue is a min-heap of delayed requests ordered by deadline. Each
// request knows its position (heapIndex), so a stream that ends early is
// removed in O(log n) instead of waiting for its deadline. It is written out
// rather than built on container/heap, whose interface{} methods would
// allocate on every push.
type delayQueue struct{ items []*httpContext }

// Len is the number of delayed requests.
func (q *delayQueue) Len() int { return len(q.items) }

// Peek returns the request with the earliest deadline; the queue must not be empty.
func (q *delayQueue) Peek() *httpContext { return q.items[0] }

// Push adds a request.
func (q *delayQueue) Push(h *httpContext) {
	h.heapIndex = len(q.items)
	q.items = append(q.items, h)
	q.up(h.heapIndex)
}

// Pop removes and returns the request with the earliest deadline.
func (q *delayQueue) Pop() *httpContext {
	h := q.items[0]
	q.Remove(h)
	return h
}

// Remove takes a queued request out of the queue.
func (q *delayQueue) Remove(h *httpContext) {
	i := h.heapIndex
	last := len(q.items) - 1
	if i != last {
		q.swap(i, last)
	}
	q.items[last] = nil
	q.items = q.items[:last]
	h.heapIndex = -1
	if i != last {
		q.down(i)
		q.up(i)
	}
}

func (q *delayQueue) less(i, j int) bool { return q.items[i].deadline < q.items[j].deadline }

func (q *delayQueue) swap(i, j int) {
	q.items[i], q.items[j] = q.items[j], q.items[i]
	q.items[i].heapIndex = i
	q.items[j].heapIndex = j
}

func (q *delayQueue) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !q.less(i, parent) {
			return
		}
		q.swap(i, parent)
		i = parent
	}
}

func (q *delayQueue) down(i int) {
	n := len(q.items)
	for {
		smallest := i
		if l := 2*i + 1; l < n && q.less(l, smallest) {
			smallest = l
		}
		if r := 2*i + 2; r < n && q.less(r, smallest) {
			smallest = r
		}
		if smallest == i {
			return
		}
		q.swap(i, smallest)
		i = smallest
	}
}
