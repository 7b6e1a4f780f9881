package ui

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// Scripts using HTTP Basic send the password with every request; checking
// it with argon2id each time would cost about 70 ms of CPU per request and
// make Basic a cheap way to load the server. A correct name and password
// are remembered (as a SHA-256, never the password) for a minute, and only
// while the user's stored hash is unchanged.
const (
	basicCacheTTL = time.Minute
	basicCacheMax = 1024
)

type basicEntry struct {
	hash    string // the user's password hash when the check succeeded
	expires time.Time
}

// basicCache remembers recently verified Basic credentials.
type basicCache struct {
	mu sync.Mutex
	m  map[[32]byte]basicEntry
}

func basicKey(name, password string) [32]byte {
	return sha256.Sum256([]byte(name + "\x00" + password))
}

// basicUser authenticates HTTP Basic credentials, from the cache when it can.
func (s *Server) basicUser(c echo.Context, name, password string) (store.User, *loginError) {
	key, now := basicKey(name, password), s.now()
	s.basic.mu.Lock()
	e, hit := s.basic.m[key]
	s.basic.mu.Unlock()
	if hit && now.Before(e.expires) {
		ctx := c.Request().Context()
		u, err := s.store.UserByName(ctx, name)
		if err == nil && u.PasswordHash == e.hash {
			if lock, err := s.store.LoginLocked(ctx, u.Name, clientSource(c), now, s.loginLimits()); err == nil && !lock.Locked() {
				return u, nil
			}
		}
	}
	u, lerr := s.authenticate(c, name, password, false)
	if lerr != nil {
		return u, lerr
	}
	s.basic.mu.Lock()
	if s.basic.m == nil || len(s.basic.m) >= basicCacheMax {
		s.basic.m = map[[32]byte]basicEntry{}
	}
	s.basic.m[key] = basicEntry{hash: u.PasswordHash, expires: now.Add(basicCacheTTL)}
	s.basic.mu.Unlock()
	return u, nil
}
