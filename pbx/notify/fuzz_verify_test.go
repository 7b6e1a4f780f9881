package notify

import (
	"strings"
	"testing"
)

// FuzzWebhookVerify: a signature made by Sign verifies; any other header
// value, another secret or a changed body does not; nothing panics.
func FuzzWebhookVerify(f *testing.F) {
	body := []byte(`{"event":"message.new","message":{"id":1,"box":"600","caller_number":"5551234"}}`)
	f.Add("s3cret", "1767225600", Sign("s3cret", "1767225600", body), body)
	f.Add("s3cret", "1767225600", "sha256=", body)
	f.Add("", "", "", []byte{})
	f.Add("k", "1", "SHA256="+strings.Repeat("0", 64), []byte("x"))
	f.Add("k", "1", Sign("k", "1", []byte("x"))[7:], []byte("x"))
	f.Fuzz(func(t *testing.T, secret, ts, sig string, body []byte) {
		good := Sign(secret, ts, body)
		if !strings.HasPrefix(good, "sha256=") || len(good) != 7+64 {
			t.Fatalf("Sign = %q", good)
		}
		if !Verify(secret, ts, good, body) {
			t.Fatal("a fresh signature does not verify")
		}
		if Verify(secret, ts, sig, body) != (sig == good) {
			t.Fatalf("Verify(%q) = %v, good signature is %q", sig, !(sig == good), good)
		}
		if Verify(secret+"x", ts, good, body) {
			t.Fatal("verifies with another secret")
		}
		if Verify(secret, ts, good, append(append([]byte(nil), body...), '\n')) {
			t.Fatal("verifies a changed body")
		}
		if len(body) > 0 {
			changed := append([]byte(nil), body...)
			changed[len(changed)/2] ^= 1
			if Verify(secret, ts, good, changed) {
				t.Fatal("verifies a body with a flipped bit")
			}
		}
	})
}
