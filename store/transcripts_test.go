package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func addTestMessage(t *testing.T, s *Store, box, caller, name string) int64 {
	t.Helper()
	id, err := s.AddMessage(context.Background(), Message{Box: box, CallerNumber: caller, CallerName: name, CalledNumber: box,
		StartedAt: time.Now(), Duration: 3, Audio: "x.wav"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestTranscriptionQueue(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.AddBox(ctx, Box{Number: "600", Name: "Sales", Kind: BoxShared}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBox(ctx, Box{Number: "601", Name: "Quiet", Kind: BoxShared}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE voicemail_boxes SET transcribe = 0 WHERE number = '601'`); err != nil {
		t.Fatal(err)
	}
	a := addTestMessage(t, s, "600", "5551234", "Anna")
	b := addTestMessage(t, s, "600", "5559876", "Ben")
	quiet := addTestMessage(t, s, "601", "5550000", "Cy")
	if j, _ := s.JobOf(ctx, quiet); j.State != JobOff {
		t.Fatalf("job in a box that doesn't transcribe: %q, want off", j.State)
	}
	now := time.Now().Add(time.Second)
	j, ok, err := s.NextJob(ctx, now)
	if err != nil || !ok || j.MessageID != a || j.Attempts != 1 || j.Language != "auto" {
		t.Fatalf("NextJob = %+v, %v, %v; want message %d, first attempt", j, ok, err, a)
	}
	// A running job is not handed out twice.
	j2, _, _ := s.NextJob(ctx, now)
	if j2.MessageID != b {
		t.Fatalf("second NextJob = %d, want %d", j2.MessageID, b)
	}
	if _, ok, _ := s.NextJob(ctx, now); ok {
		t.Fatal("a third job appeared")
	}
	// A crash: both running jobs go back to the queue.
	if n, _ := s.RequeueRunning(ctx); n != 2 {
		t.Fatalf("requeued %d, want 2", n)
	}
	// Retry later, then give up.
	j, _, _ = s.NextJob(ctx, now)
	if err := s.JobFailed(ctx, j.MessageID, "boom", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.JobOf(ctx, j.MessageID); got.State != JobQueued || got.Error != "boom" {
		t.Fatalf("after a failure: %+v, want queued with the error", got)
	}
	if err := s.JobFailed(ctx, j.MessageID, "boom again", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.JobOf(ctx, j.MessageID); got.State != JobFailed {
		t.Fatalf("after giving up: %+v, want failed", got)
	}
	// Waiting for a model, then the backlog.
	j, _, _ = s.NextJob(ctx, now)
	if err := s.JobWaiting(ctx, j.MessageID, "not transcribed: no model"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.RequeueWaiting(ctx, now); n != 1 {
		t.Fatalf("backlog requeued %d, want 1", n)
	}

	// Transcripts: saving twice leaves one, with segments, and it is searchable.
	tr := Transcript{MessageID: b, Language: "en", Model: "tiny", Text: "please call me back about the invoice",
		Segments: []TextSpan{{0, 1500, "please call me back"}, {1500, 3000, "about the invoice"}}}
	for range 2 {
		if err := s.SaveTranscript(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Transcript(ctx, b)
	if err != nil || len(got.Segments) != 2 || got.Text != tr.Text {
		t.Fatalf("Transcript = %+v, %v", got, err)
	}
	if jb, _ := s.JobOf(ctx, b); jb.State != JobDone {
		t.Fatalf("job after the transcript: %q, want done", jb.State)
	}
	searches := []struct {
		q     string
		boxes []string
		want  []int64
	}{
		{"invoice", nil, []int64{b}},
		{"INVOI", nil, []int64{b}},
		{"anna", nil, []int64{a}},
		{"555987", nil, []int64{b}},
		{"invoice", []string{"601"}, nil},
		{`invoice" OR caller_name:*`, nil, nil}, // no FTS syntax gets through
		{"", nil, nil},
	}
	for _, tc := range searches {
		hits, err := s.SearchMessages(ctx, tc.q, tc.boxes, 10)
		if err != nil {
			t.Fatalf("search %q: %v", tc.q, err)
		}
		var ids []int64
		for _, h := range hits {
			ids = append(ids, h.ID)
		}
		if len(ids) != len(tc.want) || len(ids) > 0 && ids[0] != tc.want[0] {
			t.Errorf("search %q in %v = %v, want %v", tc.q, tc.boxes, ids, tc.want)
		}
	}
	hits, _ := s.SearchMessages(ctx, "invoice", nil, 10)
	if len(hits) != 1 || !strings.Contains(hits[0].Snippet, "[invoice]") {
		t.Fatalf("hits = %+v, want one whose snippet marks [invoice]", hits)
	}
	// Trash hides from search; deleting the row removes the index entry.
	if err := s.TrashMessage(ctx, b, time.Now()); err != nil {
		t.Fatal(err)
	}
	if hits, _ := s.SearchMessages(ctx, "invoice", nil, 10); len(hits) != 0 {
		t.Fatal("a message in the trash was found")
	}
}
