package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// lastCallStatus polls the call log until the newest call has ended and
// returns its status.
func lastCallStatus(t *testing.T, dataDir string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var calls []struct {
			Status  string  `json:"status"`
			EndedAt *string `json:"ended_at"`
		}
		if err := json.Unmarshal([]byte(runCLI(t, dataDir, "calls", "--json")), &calls); err != nil {
			t.Fatal(err)
		}
		if len(calls) > 0 && calls[0].EndedAt != nil {
			return calls[0].Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ended call in the log after %v: %+v", timeout, calls)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A caller in a queue hears music (RTP observed) while members are offered
// the call; pressing 1 goes to the shared box at once, waiting past the
// maximum goes there too, and a member who answers talks to the caller.
func TestQueue(t *testing.T) {
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Agent", "--secret", "agent-secret-1", "--no-voicemail")
	runCLI(t, srv.DataDir, "ext", "add", "102", "--name", "Caller", "--secret", "caller-secret-1", "--no-voicemail")
	runCLI(t, srv.DataDir, "vm", "add", "601", "--name", "Support box", "--pin", "1234")
	runCLI(t, srv.DataDir, "queue", "add", "750", "--name", "Support", "--members", "101",
		"--ring", "2", "--max-wait", "6", "--fallback", "vm:601", "--announce", "3")
	agent := startBaresip(t, phoneConfig{Name: "agent", User: "101", Password: "agent-secret-1", Registrar: srv.SIPAddr, ToneHz: aliceToneHz})
	agent.WaitRegistered()
	caller := newGoPhone(t, "102", "caller-secret-1", srv.SIPAddr)

	t.Run("member answers", func(t *testing.T) {
		call := caller.Dial("750")
		agent.WaitIncoming()
		agent.Accept()
		agent.WaitEstablished()
		mark := call.HeardSamples()
		time.Sleep(2 * time.Second)
		if got := toneSeconds(call.Heard(mark), aliceToneHz); got < time.Second {
			t.Fatalf("caller heard %v of the member's tone, want >= 1 s", got)
		}
		call.Hangup()
		agent.WaitClosed()
		if status := lastCallStatus(t, srv.DataDir, 10*time.Second); status != "answered" {
			t.Fatalf("call ended as %q, want answered", status)
		}
	})

	t.Run("music and the leave digit", func(t *testing.T) {
		call := caller.Dial("750")
		time.Sleep(2500 * time.Millisecond) // the member is offered the call and doesn't answer
		music := analyzeTones(call.Heard(0), []float64{261.63, 329.63, 392.00, 523.25})
		if music.Active < 1500*time.Millisecond {
			t.Fatalf("caller heard %v of sound in the queue, want music (>= 1.5 s)", music.Active)
		}
		call.Press("1")
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(srv.Log(), `because="caller pressed 1"`) && !strings.Contains(srv.Log(), "caller left for the fallback") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Second) // in the box now, hearing its greeting
		call.Hangup()
		if status := lastCallStatus(t, srv.DataDir, 10*time.Second); status != "voicemail" {
			t.Fatalf("after pressing 1 the call ended as %q, want voicemail", status)
		}
		if !strings.Contains(srv.Log(), "caller left for the fallback") && !strings.Contains(srv.Log(), `because="caller pressed 1"`) {
			t.Fatal("server log shows no fallback for the leave digit")
		}
	})

	t.Run("maximum wait", func(t *testing.T) {
		call := caller.Dial("750")
		began := time.Now()
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(srv.Log(), `because="maximum wait"`) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		waited := time.Since(began)
		call.Hangup()
		if !strings.Contains(srv.Log(), `because="maximum wait"`) {
			t.Fatal("the caller never left the queue on the maximum wait")
		}
		if waited < 5*time.Second || waited > 9*time.Second {
			t.Fatalf("left the queue after %v, want about the 6 s maximum wait", waited)
		}
	})

	t.Run("members log in and out with feature codes", func(t *testing.T) {
		// Forget the ringing and cancelling the earlier subtests left behind.
		for {
			if _, err := agent.nextEvent(time.Now().Add(700 * time.Millisecond)); err != nil {
				break
			}
		}
		if _, err := caller.tryDial("*46750"); err == nil || !strings.Contains(err.Error(), "404") {
			t.Fatalf("a non-member logging out: %v, want 404", err)
		}
		agent.Dial("*46750")
		agent.WaitEstablished()
		agent.WaitClosed() // the PBX confirms and hangs up
		if out := runCLI(t, srv.DataDir, "queue", "list", "--json"); !strings.Contains(out, `"logged_in": false`) {
			t.Fatalf("member still logged in after *46750:\n%s", out)
		}
		// Nobody logged in: straight to the fallback, no waiting.
		began := time.Now()
		call := caller.Dial("750")
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(srv.Log(), `because="no member logged in"`) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		call.Hangup()
		if !strings.Contains(srv.Log(), `because="no member logged in"`) || time.Since(began) > 4*time.Second {
			t.Fatal("with no member logged in the caller did not go straight to the fallback")
		}
		agent.Dial("*45750")
		agent.WaitEstablished()
		agent.WaitClosed()
		if out := runCLI(t, srv.DataDir, "queue", "list", "--json"); !strings.Contains(out, `"logged_in": true`) {
			t.Fatalf("member not logged in after *45750:\n%s", out)
		}
	})
}
