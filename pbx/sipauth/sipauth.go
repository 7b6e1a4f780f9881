// Package sipauth implements the server side of SIP digest authentication
// (RFC 3261 section 22, RFC 2617) with MD5 and SHA-256 (RFC 8760).
//
// Secrets are never kept: an extension stores HA1 = H(user:realm:secret) for
// each algorithm, which is all a verifier needs. Nonces are stateless: a
// timestamp and random bytes signed with a per-process key, so a server keeps
// no per-challenge memory and a flood of REGISTERs costs it nothing to hold.
package sipauth

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/icholy/digest"
)

// DefaultRealm is the digest realm Frontdesk uses for its extensions.
const DefaultRealm = "frontdesk"

// Algorithm names as they appear on the wire.
const (
	MD5    = "MD5"
	SHA256 = "SHA-256"
)

// NonceLifetime is how long a challenge can be answered before the client is
// asked again with stale=true (no new password prompt).
const NonceLifetime = 5 * time.Minute

// Errors returned by Verify. ErrDenied covers unknown users and wrong secrets
// alike, so callers answer both the same way and extensions can't be probed.
var (
	ErrNoCredentials = errors.New("no credentials")
	ErrStale         = errors.New("stale nonce")
	ErrDenied        = errors.New("authentication failed")
)

// Secrets holds the stored hashes of one account's secret.
type Secrets struct {
	HA1MD5, HA1SHA256 string
}

// HashSecret computes the stored hashes for a user's secret in realm.
func HashSecret(user, realm, secret string) Secrets {
	return Secrets{
		HA1MD5:    hexHash(md5.New(), user+":"+realm+":"+secret),
		HA1SHA256: hexHash(sha256.New(), user+":"+realm+":"+secret),
	}
}

func hexHash(h hash.Hash, s string) string {
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

func newHash(alg string) (hash.Hash, bool) {
	switch strings.ToUpper(alg) {
	case "", MD5:
		return md5.New(), true
	case SHA256:
		return sha256.New(), true
	}
	return nil, false
}

// Authenticator issues challenges and checks answers for one realm.
type Authenticator struct {
	realm string
	key   []byte
	now   func() time.Time
	// algorithms offered in challenges, in order. Answers with either
	// algorithm are always checked; this only changes what is offered.
	algorithms []string
}

// DefaultAlgorithms is what New offers when told nothing: MD5 alone. Phones
// built on libre (baresip and many softphones) abandon authentication when any
// challenge names an algorithm they lack, and others read only the first, so
// offering SHA-256 is a setting (--sip-digest) for offices whose phones know it.
var DefaultAlgorithms = []string{MD5}

// ParseAlgorithms reads a comma-separated list such as "SHA-256,MD5".
func ParseAlgorithms(list string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(list, ",") {
		switch strings.ToUpper(strings.TrimSpace(a)) {
		case MD5:
			out = append(out, MD5)
		case SHA256, "SHA256":
			out = append(out, SHA256)
		default:
			return nil, fmt.Errorf("digest algorithm %q: want MD5 or SHA-256", a)
		}
	}
	return out, nil
}

// New returns an Authenticator with a fresh random nonce key that offers the
// given algorithms in order (DefaultAlgorithms when none).
func New(realm string, algorithms ...string) (*Authenticator, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	if len(algorithms) == 0 {
		algorithms = DefaultAlgorithms
	}
	return &Authenticator{realm: realm, key: key, now: time.Now, algorithms: algorithms}, nil
}

// Realm is the realm challenges are issued for.
func (a *Authenticator) Realm() string { return a.realm }

// Challenges returns header values for WWW-Authenticate or Proxy-Authenticate,
// one per algorithm, sharing one nonce.
func (a *Authenticator) Challenges(stale bool) []string {
	nonce := a.nonce()
	out := make([]string, 0, len(a.algorithms))
	for _, alg := range a.algorithms {
		c := digest.Challenge{Realm: a.realm, Nonce: nonce, Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
		out = append(out, c.String())
	}
	return out
}

// nonce = base64(unix-nanos | 8 random bytes | HMAC-SHA256(key, first 16 bytes)[:16])
func (a *Authenticator) nonce() string {
	var b [32]byte
	binary.BigEndian.PutUint64(b[:8], uint64(a.now().UnixNano()))
	_, _ = rand.Read(b[8:16])
	m := hmac.New(sha256.New, a.key)
	m.Write(b[:16])
	copy(b[16:], m.Sum(nil)[:16])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkNonce reports whether the nonce is ours and whether it is still fresh.
func (a *Authenticator) checkNonce(nonce string) (ours, fresh bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 32 {
		return false, false
	}
	m := hmac.New(sha256.New, a.key)
	m.Write(b[:16])
	if !hmac.Equal(m.Sum(nil)[:16], b[16:]) {
		return false, false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	age := a.now().Sub(issued)
	return true, age >= -time.Minute && age <= NonceLifetime
}

// Lookup finds the stored secrets of a user; ok is false for unknown users.
type Lookup func(user string) (s Secrets, ok bool)

// dummySecrets is hashed for unknown users so their answer takes as long as
// a real check.
var dummySecrets = HashSecret("nobody", "nowhere", "nothing")

// Verify checks an Authorization or Proxy-Authorization header value for a
// request with the given method. It returns the authenticated user name.
func (a *Authenticator) Verify(header, method string, lookup Lookup) (string, error) {
	if header == "" {
		return "", ErrNoCredentials
	}
	c, err := digest.ParseCredentials(header)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrDenied, err)
	}
	if c.Realm != a.realm || c.Username == "" {
		return "", ErrDenied
	}
	h, ok := newHash(c.Algorithm)
	if !ok {
		return "", fmt.Errorf("%w: unsupported algorithm %q", ErrDenied, c.Algorithm)
	}
	ours, fresh := a.checkNonce(c.Nonce)
	if !ours {
		// A nonce we never issued (or from before a restart): ask again.
		return "", ErrStale
	}
	secrets, known := lookup(c.Username)
	if !known {
		secrets = dummySecrets
	}
	ha1 := secrets.HA1MD5
	if h.Size() == sha256.Size {
		ha1 = secrets.HA1SHA256
	}
	ha2 := hexHash(h, method+":"+c.URI)
	h.Reset()
	var expected string
	switch c.QOP {
	case "auth":
		expected = hexHash(h, fmt.Sprintf("%s:%s:%08x:%s:auth:%s", ha1, c.Nonce, c.Nc, c.Cnonce, ha2))
	case "":
		expected = hexHash(h, ha1+":"+c.Nonce+":"+ha2)
	default:
		return "", fmt.Errorf("%w: unsupported qop %q", ErrDenied, c.QOP)
	}
	match := subtle.ConstantTimeCompare([]byte(expected), []byte(strings.ToLower(c.Response))) == 1
	if !match || !known {
		return "", ErrDenied
	}
	if !fresh {
		return "", ErrStale
	}
	return c.Username, nil
}
