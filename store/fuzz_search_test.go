package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// FuzzSearchQuery types arbitrary text into the search box: ftsQuery must
// only ever produce quoted prefix terms, and running it through
// SearchMessages and Inbox against a real FTS5 table must never be an FTS
// syntax error. A word taken from a transcript finds its message.
func FuzzSearchQuery(f *testing.F) {
	ctx := context.Background()
	s, err := Open(ctx, f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	if err := s.AddBox(ctx, Box{Number: "600", Name: "Sales", Kind: BoxShared}); err != nil {
		f.Fatal(err)
	}
	texts := []struct{ caller, name, text string }{
		{"+4930123456", "Anna Müller", "Hello, this is Anna about invoice 4711. Please call back."},
		{"5551234", "O'Brien \"Bob\"", "Rückruf bitte wegen der Rechnung — danke!"},
		{"101", "Front desk", "NEAR AND OR NOT * ^ : ( ) {col} \"quoted\" 東京 emoji 📞"},
	}
	for i, m := range texts {
		id, err := s.AddMessage(ctx, Message{Box: "600", CallerNumber: m.caller, CallerName: m.name, CalledNumber: "600",
			StartedAt: time.Now().Add(-time.Duration(i) * time.Minute), Duration: 3, Audio: "x.wav"}, nil)
		if err != nil {
			f.Fatal(err)
		}
		if err := s.SaveTranscript(ctx, Transcript{MessageID: id, Language: "en", Model: "test", Text: m.text}); err != nil {
			f.Fatal(err)
		}
	}
	for _, q := range []string{"invoice", "inv", "Anna +49", "\"", "a\"b", "NEAR(a b)", "col:x", "* OR *", "^start",
		"-x", "+", "++a++", "東京", "📞", "Rück", "O'Brien", "4711", "\xff\xfe", "a\x00b", "(", "NOT", "AND OR", ""} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		match := ftsQuery(q)
		if match != "" {
			for _, term := range strings.Split(match, " ") {
				if len(term) < 4 || !strings.HasPrefix(term, `"`) || !strings.HasSuffix(term, `"*`) ||
					strings.Contains(term[1:len(term)-2], `"`) || strings.Contains(term, " ") {
					t.Fatalf("ftsQuery(%q) = %q: term %q is not a quoted prefix", q, match, term)
				}
			}
		}
		hits, err := s.SearchMessages(ctx, q, []string{"600"}, 10)
		if err != nil {
			t.Fatalf("SearchMessages(%q) [%s]: %v", q, match, err)
		}
		if match == "" && hits != nil {
			t.Fatalf("SearchMessages(%q): hits for an empty query", q)
		}
		items, err := s.Inbox(ctx, InboxFilter{Boxes: []string{"600"}, Query: q, Limit: 10})
		if err != nil {
			t.Fatalf("Inbox(%q) [%s]: %v", q, match, err)
		}
		// Inbox tries whole words, then prefixes: what it finds, a prefix search finds.
		for _, it := range items[:len(items)*min(len(match), 1)] {
			found := false
			for _, h := range hits {
				found = found || h.ID == it.ID
			}
			if !found {
				t.Fatalf("query %q [%s]: Inbox found message %d, SearchMessages did not", q, match, it.ID)
			}
		}
		if _, err := s.Inbox(ctx, InboxFilter{Boxes: []string{"600"}, Query: q, Limit: 1, BeforeID: 3}); err != nil {
			t.Fatalf("Inbox(%q) page 2: %v", q, err)
		}
	})
}
