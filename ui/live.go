package ui

// Live updates: one server-sent event stream per open page. Changes from the
// store go to every stream whose user can see the box; presence (who has a
// message open right now) goes to the streams viewing that message, so two
// people see each other before both call the customer back.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// How often an idle stream gets a comment, so proxies and browsers keep it.
const liveHeartbeat = 15 * time.Second

// How long a stream trusts its user's box access before asking again.
const liveAccessTTL = 30 * time.Second

// liveConn is one open event stream.
type liveConn struct {
	user       store.User
	viewing    int64  // message id the page shows, 0 for none
	viewingBox string // that message's box
	out        chan liveEvent
}

// liveEvent is one server-sent event.
type liveEvent struct {
	name string
	data []byte
}

// presence is who views a message.
type presence struct {
	MessageID int64    `json:"message_id"`
	Viewers   []string `json:"viewers"`
}

// liveHub tracks the open streams.
type liveHub struct {
	mu    sync.Mutex
	conns map[*liveConn]struct{}
}

func newLiveHub() *liveHub { return &liveHub{conns: map[*liveConn]struct{}{}} }

// add registers c and tells the viewers of its message.
func (h *liveHub) add(c *liveConn) {
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	if c.viewing != 0 {
		h.announce(c.viewing)
	}
}

// remove forgets c and tells the viewers of its message.
func (h *liveHub) remove(c *liveConn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	if c.viewing != 0 {
		h.announce(c.viewing)
	}
}

// viewers lists the distinct names viewing a message, sorted.
func (h *liveHub) viewers(messageID int64) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	names := []string{}
	for c := range h.conns {
		if c.viewing == messageID && !seen[c.user.Name] {
			seen[c.user.Name] = true
			names = append(names, c.user.Name)
		}
	}
	sort.Strings(names)
	return names
}

// announce sends the message's viewers to every stream viewing it.
func (h *liveHub) announce(messageID int64) {
	data, _ := json.Marshal(presence{MessageID: messageID, Viewers: h.viewers(messageID)})
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		if c.viewing == messageID {
			select {
			case c.out <- liveEvent{name: "presence", data: data}:
			default: // a stalled stream misses it; the next announce repairs it
			}
		}
	}
}

// liveRoutes registers the event stream.
func (s *Server) liveRoutes() {
	s.live = newLiveHub()
	s.api.GET("/events", s.events)
}

// events streams changes (and presence for ?viewing=ID) until the client
// goes away or the server stops.
func (s *Server) events(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	access, err := s.store.InboxAccess(ctx, u)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	conn := &liveConn{user: u, out: make(chan liveEvent, 16)}
	if v := c.QueryParam("viewing"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return jsonError(c, http.StatusBadRequest, "viewing must be a message id")
		}
		m, err := s.store.Message(ctx, id)
		if err != nil || access[m.Box] == store.AccessNone {
			return jsonError(c, http.StatusForbidden, "you don't have access to that inbox")
		}
		conn.viewing, conn.viewingBox = id, m.Box
	}
	changes, unsubscribe := s.store.Subscribe()
	defer unsubscribe()

	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 2000\n: hello\n\n"); err != nil {
		return nil
	}
	w.Flush()

	s.live.add(conn)
	defer s.live.remove(conn)

	heartbeat := time.NewTicker(liveHeartbeat)
	defer heartbeat.Stop()
	accessAt := time.Now()
	for {
		var ev liveEvent
		select {
		case <-ctx.Done():
			return nil
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
			w.Flush()
			continue
		case ev = <-conn.out:
		case ch := <-changes:
			if time.Since(accessAt) > liveAccessTTL {
				if fresh, err := s.store.InboxAccess(context.WithoutCancel(ctx), u); err == nil {
					access, accessAt = fresh, time.Now()
				}
			}
			if access[ch.Box] == store.AccessNone {
				continue
			}
			data, _ := json.Marshal(ch)
			ev = liveEvent{name: "change", data: data}
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, ev.data); err != nil {
			return nil
		}
		w.Flush()
	}
}
