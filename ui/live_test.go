package ui

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/frontdesk-pbx/frontdesk/store"
)

func TestLiveHubPresence(t *testing.T) {
	h := newLiveHub()
	conn := func(name string, viewing int64) *liveConn {
		return &liveConn{user: store.User{Name: name}, viewing: viewing, out: make(chan liveEvent, 4)}
	}
	alice, bob, bob2, carol := conn("alice", 7), conn("bob", 7), conn("bob", 7), conn("carol", 8)
	for _, c := range []*liveConn{alice, bob, bob2, carol} {
		h.add(c)
	}
	tests := []struct {
		message int64
		want    []string
	}{
		{7, []string{"alice", "bob"}}, // bob's two tabs count once
		{8, []string{"carol"}},
		{9, []string{}},
	}
	for _, tt := range tests {
		if got := h.viewers(tt.message); !slices.Equal(got, tt.want) {
			t.Errorf("viewers(%d) = %v, want %v", tt.message, got, tt.want)
		}
	}

	// Everyone viewing 7 hears the newest list; carol, on 8, hears nothing of it.
	drain := func(c *liveConn) (last presence, n int) {
		for {
			select {
			case ev := <-c.out:
				if ev.name != "presence" {
					t.Fatalf("event %q, want presence", ev.name)
				}
				if err := json.Unmarshal(ev.data, &last); err != nil {
					t.Fatal(err)
				}
				n++
			default:
				return last, n
			}
		}
	}
	drain(alice)
	drain(carol)
	h.remove(bob)
	h.remove(bob2)
	if p, n := drain(alice); n == 0 || !slices.Equal(p.Viewers, []string{"alice"}) || p.MessageID != 7 {
		t.Errorf("after bob left, alice heard %d events, last %+v", n, p)
	}
	if _, n := drain(carol); n != 0 {
		t.Errorf("carol (viewing another message) heard %d presence events", n)
	}
}
