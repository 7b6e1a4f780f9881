package secret

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHash(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("hash %q is not argon2id PHC", h)
	}
	tests := []struct {
		password string
		want     bool
	}{
		{"correct horse", true},
		{"correct horse ", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := Check(h, tc.password); got != tc.want {
			t.Errorf("Check(%q) = %v, want %v", tc.password, got, tc.want)
		}
	}
	if Check("$argon2id$garbage", "x") {
		t.Error("malformed hash accepted")
	}
}

func TestRandom(t *testing.T) {
	a, _ := Random(16)
	b, _ := Random(16)
	if len(a) != 16 || a == b {
		t.Fatalf("secrets %q %q: want 16 chars, different", a, b)
	}
}

// A burst of password checks (a login flood, wrong PINs from many calls)
// must not take 64 MiB each at once: at most two run together.
func TestCheckBurstMemoryBounded(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	const checks = 8
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			Check(h, "wrong guess")
		}()
	}
	go func() { wg.Wait(); close(done) }()
	var peak uint64
	for sampling := true; sampling; {
		select {
		case <-done:
			sampling = false
		case <-time.After(5 * time.Millisecond):
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	const argonBytes = argonMemory * 1024
	// Two slots in use, and the memory of checks that just finished until
	// it is collected; unbounded, all eight would take 512 MiB.
	if peak > 4*argonBytes {
		t.Errorf("%d concurrent checks: heap in use peaked at %d MiB, want at most %d MiB",
			checks, peak>>20, 4*argonBytes>>20)
	}
	t.Logf("%d concurrent checks: heap in use peaked at %d MiB", checks, peak>>20)
}
