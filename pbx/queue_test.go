package pbx

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/embed"
	"github.com/frontdesk-pbx/frontdesk/media"
)

func TestWaitedWords(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{20 * time.Second, "q-waited q-under-a-minute"},
		{70 * time.Second, "q-waited digit-1 q-minute"},
		{5*time.Minute + 59*time.Second, "q-waited digit-5 q-minutes"},
		{42 * time.Minute, "q-waited n-40 digit-2 q-minutes"},
	}
	for _, tc := range tests {
		if got := strings.Join(waitedWords(tc.d), " "); got != tc.want {
			t.Errorf("waitedWords(%v) = %s, want %s", tc.d, got, tc.want)
		}
	}
}

// Every prompt name the PBX code plays exists in the built-in set.
func TestPromptsUsedExist(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	name := regexp.MustCompile(`"((?:vm|aa|q)-[a-z-]+)"`)
	prompts := media.NewPrompts(embed.Prompts(), "", "en")
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllStringSubmatch(string(src), -1) {
			seen++
			if _, err := prompts.Get(m[1]); err != nil {
				t.Errorf("%s plays %q: %v", f, m[1], err)
			}
		}
	}
	if seen < 20 {
		t.Fatalf("found only %d prompt names in the code; the pattern is stale", seen)
	}
}
