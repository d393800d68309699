package router

// queued is a payload that reached a managed session while no controller was
// attached.
type queued struct {
	tunnelID uint32
	payload  []byte
}

// payloadQueue is a bounded FIFO: when full, the oldest payload is dropped
// and counted, so a long detachment costs bounded memory and the newest
// traffic (the most likely to still matter) survives.
type payloadQueue struct {
	limit   int
	items   []queued
	dropped uint64
}

// push appends p, dropping the oldest item if the queue is full. It reports
// whether an item was dropped.
func (q *payloadQueue) push(p queued) bool {
	if q.limit <= 0 {
		q.dropped++
		return true
	}
	dropped := false
	if len(q.items) >= q.limit {
		q.items[0] = queued{}
		q.items = q.items[1:]
		q.dropped++
		dropped = true
	}
	q.items = append(q.items, p)
	return dropped
}

// drain returns every queued payload in arrival order and empties the queue.
func (q *payloadQueue) drain() []queued {
	items := q.items
	q.items = nil
	return items
}

func (q *payloadQueue) len() int { return len(q.items) }
