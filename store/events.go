package store

import "sync"

// Change is one thing that happened to the inbox, published after its
// transaction commits so live views (server-sent events) can refresh.
type Change struct {
	Kind      string `json:"kind"` // message.new, message.updated, message.deleted, transcript.done
	Box       string `json:"box"`
	MessageID int64  `json:"message_id"`
	Actor     string `json:"actor,omitempty"`
}

// changes fans Changes out to subscribers. A slow subscriber misses changes
// rather than holding up the writer: live views reload on the next one.
type changes struct {
	mu   sync.Mutex
	subs map[chan Change]struct{}
}

// Subscribe returns a channel of Changes and a function that ends the
// subscription. The channel is buffered; when it is full, changes are dropped.
func (s *Store) Subscribe() (<-chan Change, func()) {
	ch := make(chan Change, 64)
	s.changes.mu.Lock()
	if s.changes.subs == nil {
		s.changes.subs = map[chan Change]struct{}{}
	}
	s.changes.subs[ch] = struct{}{}
	s.changes.mu.Unlock()
	return ch, func() {
		s.changes.mu.Lock()
		delete(s.changes.subs, ch)
		s.changes.mu.Unlock()
	}
}

// publish hands c to every subscriber without blocking.
func (s *Store) publish(c Change) {
	s.changes.mu.Lock()
	defer s.changes.mu.Unlock()
	for ch := range s.changes.subs {
		select {
		case ch <- c:
		default:
		}
	}
}
