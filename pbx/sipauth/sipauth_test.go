package sipauth

import (
	"errors"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// answer builds a client's Authorization value for the first challenge with alg.
func answer(t *testing.T, a *Authenticator, alg, user, secret, method, uri string) string {
	t.Helper()
	for _, v := range a.Challenges(false) {
		chal, err := digest.ParseChallenge(v)
		if err != nil {
			t.Fatalf("parse our own challenge %q: %v", v, err)
		}
		if chal.Algorithm != alg {
			continue
		}
		cred, err := digest.Digest(chal, digest.Options{Method: method, URI: uri, Username: user, Password: secret, Cnonce: "abc", Count: 1})
		if err != nil {
			t.Fatalf("client digest: %v", err)
		}
		return cred.String()
	}
	t.Fatalf("no %s challenge offered", alg)
	return ""
}

func TestVerify(t *testing.T) {
	a, err := New(DefaultRealm, SHA256, MD5)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]Secrets{"101": HashSecret("101", DefaultRealm, "right")}
	lookup := func(u string) (Secrets, bool) { s, ok := stored[u]; return s, ok }

	tests := []struct {
		name, alg, user, secret, method string
		want                            error
	}{
		{"md5 right secret", MD5, "101", "right", "REGISTER", nil},
		{"sha256 right secret", SHA256, "101", "right", "INVITE", nil},
		{"md5 wrong secret", MD5, "101", "wrong", "REGISTER", ErrDenied},
		{"sha256 wrong secret", SHA256, "101", "wrong", "REGISTER", ErrDenied},
		{"unknown user answers like a wrong secret", MD5, "999", "right", "REGISTER", ErrDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := answer(t, a, tc.alg, tc.user, tc.secret, tc.method, "sip:127.0.0.1")
			user, err := a.Verify(h, tc.method, lookup)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %q, %v; want error %v", user, err, tc.want)
			}
			if tc.want == nil && user != tc.user {
				t.Fatalf("user = %q, want %q", user, tc.user)
			}
		})
	}

	t.Run("answer for another method fails", func(t *testing.T) {
		h := answer(t, a, MD5, "101", "right", "REGISTER", "sip:127.0.0.1")
		if _, err := a.Verify(h, "INVITE", lookup); !errors.Is(err, ErrDenied) {
			t.Fatalf("err = %v, want ErrDenied", err)
		}
	})
	t.Run("no header", func(t *testing.T) {
		if _, err := a.Verify("", "REGISTER", lookup); !errors.Is(err, ErrNoCredentials) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("nonce from another server is stale", func(t *testing.T) {
		other, _ := New(DefaultRealm, SHA256, MD5)
		h := answer(t, other, MD5, "101", "right", "REGISTER", "sip:x")
		if _, err := a.Verify(h, "REGISTER", lookup); !errors.Is(err, ErrStale) {
			t.Fatalf("err = %v, want ErrStale", err)
		}
	})
	t.Run("old nonce is stale", func(t *testing.T) {
		old := *a
		old.now = func() time.Time { return time.Now().Add(-NonceLifetime - time.Minute) }
		h := answer(t, &old, MD5, "101", "right", "REGISTER", "sip:x")
		if _, err := a.Verify(h, "REGISTER", lookup); !errors.Is(err, ErrStale) {
			t.Fatalf("err = %v, want ErrStale", err)
		}
	})
}

func TestHashSecretKnownValue(t *testing.T) {
	// RFC 2617 section 3.5's example: Mufasa / testrealm@host.com / Circle Of Life.
	got := HashSecret("Mufasa", "testrealm@host.com", "Circle Of Life").HA1MD5
	if want := "939e7578ed9e3c518a452acee763bce9"; got != want {
		t.Fatalf("HA1 = %s, want %s", got, want)
	}
}

func FuzzVerify(f *testing.F) {
	a, _ := New(DefaultRealm)
	lookup := func(string) (Secrets, bool) { return HashSecret("101", DefaultRealm, "x"), true }
	for _, s := range a.Challenges(false) {
		f.Add(s)
	}
	f.Add(`Digest username="101", realm="frontdesk", nonce="x", uri="sip:a", response="00", nc=zz`)
	f.Add(`Digest ,,,=""`)
	f.Fuzz(func(t *testing.T, h string) {
		if user, err := a.Verify(h, "REGISTER", lookup); err == nil {
			t.Fatalf("forged header accepted for %q: %q", user, h)
		}
	})
}

func TestChallengeAlgorithms(t *testing.T) {
	tests := []struct {
		name string
		list string
		want []string
	}{
		{"default is MD5 alone", "", []string{MD5}},
		{"SHA-256 first", "sha-256,md5", []string{SHA256, MD5}},
		{"SHA-256 only", "SHA256", []string{SHA256}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var algs []string
			if tc.list != "" {
				var err error
				if algs, err = ParseAlgorithms(tc.list); err != nil {
					t.Fatal(err)
				}
			}
			a, err := New(DefaultRealm, algs...)
			if err != nil {
				t.Fatal(err)
			}
			cs := a.Challenges(false)
			if len(cs) != len(tc.want) {
				t.Fatalf("%d challenges, want %d", len(cs), len(tc.want))
			}
			for i, v := range cs {
				c, err := digest.ParseChallenge(v)
				if err != nil || c.Algorithm != tc.want[i] {
					t.Fatalf("challenge %d = %q, want %s", i, v, tc.want[i])
				}
			}
		})
	}
	if _, err := ParseAlgorithms("MD5,SHA-512"); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
}
