//go:build bench

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchSpeechText is the caller's message, spoken by espeak-ng (about 23 s
// at 150 words a minute; looped to the length of a message).
const benchSpeechText = "Hello, this is a message for the sales team. I am calling about the order " +
	"we placed last week, number four five two seven. The delivery has not arrived yet, and we " +
	"need it before Friday. Could someone please call me back this afternoon? You can reach me " +
	"at my office, or on my mobile phone. Thank you very much, and have a good day."

// benchRunTool runs an audio tool, failing the test with its output.
func benchRunTool(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// benchWriteSpeech writes dur of espeak-ng speech as raw G.711 mu-law at
// 8 kHz, for SIPp's rtp_stream: the spoken text, converted by sox and
// repeated, cut to whole 20 ms frames.
func benchWriteSpeech(t *testing.T, dir, path string, dur time.Duration) {
	t.Helper()
	wav, raw := filepath.Join(dir, "speech.wav"), filepath.Join(dir, "speech-once.pcmu")
	benchRunTool(t, "espeak-ng", "-v", "en-us", "-s", "150", "-w", wav, benchSpeechText)
	benchRunTool(t, "sox", wav, "-t", "raw", "-r", "8000", "-c", "1", "-e", "u-law", raw)
	once, err := os.ReadFile(raw)
	if err != nil || len(once) < 8000 {
		t.Fatalf("speech capture: %d bytes, %v", len(once), err)
	}
	n := int(dur.Seconds()*8000) / benchFrame * benchFrame
	speech := bytes.Repeat(once, n/len(once)+1)[:n]
	if err := os.WriteFile(path, speech, 0o644); err != nil {
		t.Fatalf("writing speech capture: %v", err)
	}
}

// benchWriteGreeting writes a spoken greeting of exactly one second (8 kHz
// 16-bit WAV).
func benchWriteGreeting(t *testing.T, dir, path string) {
	t.Helper()
	wav := filepath.Join(dir, "greeting-22k.wav")
	benchRunTool(t, "espeak-ng", "-v", "en-us", "-s", "200", "-w", wav, "Leave a message.")
	benchRunTool(t, "sox", wav, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", path, "pad", "0", "1", "trim", "0", "1")
}

// benchBox adds the voicemail box the deposit benches leave messages in,
// with a one-second greeting (written in dir). Only the hangup ends a
// message: no silence detection (the speech has pauses), and a limit far
// above the message.
func benchBox(t *testing.T, dataDir, dir, box, name, pin string) {
	t.Helper()
	greeting := filepath.Join(dir, "greeting.wav")
	benchWriteGreeting(t, dir, greeting)
	runCLI(t, dataDir, "vm", "add", box, "--name", name, "--pin", pin)
	runCLI(t, dataDir, "vm", "set", box, "--silence-seconds", "0", "--max-seconds", "600")
	runCLI(t, dataDir, "vm", "greeting", "set", box, greeting)
}

// benchDeposits sums up the server's log lines about deposits.
type benchDeposits struct {
	saved, tooShort, notSaved int
	received, expected        uint64  // RTP packets, over the saved messages
	seconds, minSeconds       float64 // length of the saved messages
	endedBy                   map[string]int
	// problems counts the warnings and errors logged, by message.
	problems map[string]int
	// other holds lines that are not JSON (a few, for the report).
	other []string
}

func (d benchDeposits) done() int { return d.saved + d.tooShort + d.notSaved }

// lossPercent is the share of the RTP packets the callers sent that never
// reached the server.
func (d benchDeposits) lossPercent() float64 {
	if d.expected == 0 {
		return 100
	}
	return 100 * (1 - float64(d.received)/float64(d.expected))
}

// benchLogNumber reads a JSON log attribute written as a number or a string.
func benchLogNumber(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case string:
		f, _ := strconv.ParseFloat(v, 64)
		return f
	}
	return 0
}

// benchReadDeposits parses the server's JSON log from offset on, and
// returns the offset of its end (a partly written last line is left for
// the next call).
func benchReadDeposits(t *testing.T, srv *frontdeskServer, offset int64) (benchDeposits, int64) {
	t.Helper()
	d := benchDeposits{endedBy: map[string]int{}, problems: map[string]int{}}
	f, err := os.Open(srv.LogPath)
	if err != nil {
		t.Fatalf("reading server log: %v", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		t.Fatalf("reading server log: %v", err)
	}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			break // EOF, or a line still being written
		}
		offset += int64(len(line))
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil {
			if len(d.other) < 5 {
				d.other = append(d.other, strings.TrimSpace(string(line)))
			}
			continue
		}
		msg, _ := rec["msg"].(string)
		if level, _ := rec["level"].(string); level == "WARN" || level == "ERROR" {
			problem := level + " " + msg
			if e, ok := rec["error"].(string); ok {
				problem += ": " + e
			}
			d.problems[problem]++
		}
		switch msg {
		case "voicemail: message saved":
			secs := benchLogNumber(rec["seconds"])
			if d.saved == 0 || secs < d.minSeconds {
				d.minSeconds = secs
			}
			d.saved++
			d.seconds += secs
			d.received += uint64(benchLogNumber(rec["rtp_received"]))
			d.expected += uint64(benchLogNumber(rec["rtp_expected"]))
			reason, _ := rec["ended_by"].(string)
			d.endedBy[reason]++
		case "voicemail: message too short, discarded":
			d.tooShort++
		case "voicemail: message not saved":
			d.notSaved++
		}
	}
	return d, offset
}

// TestBenchVoicemailDeposits steps up the number of callers leaving a
// message in one shared box at the same time: each call is answered with
// a 1 s greeting and the beep, then the caller streams 30 s of G.711 speech
// (espeak-ng, through SIPp's rtp_stream) and hangs up. For each step it
// prints the calls that succeeded, the messages stored (the box's count
// through the CLI), the RTP loss the server measured over the messages
// (its "message saved" log lines) and the server's CPU per deposit. It
// reports the largest step with every message stored and loss <= 0.1%.
func TestBenchVoicemailDeposits(t *testing.T) {
	sippRequire(t)
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found in PATH (%v); `make test` installs it", tool, err)
		}
	}
	const (
		box         = "600"
		firstCaller = 101
		message     = 30 * time.Second // speech streamed per call
		// The calls of a step start within rampTime, so all of them are
		// recording together for about message-rampTime.
		rampTime = 3 * time.Second
		// How long the server may take to store the last messages after
		// the callers hang up.
		saveTimeout = 20 * time.Second
	)
	steps := []int{10, 20, 40, 80, 160, 320}
	maxCalls := steps[len(steps)-1]

	dir := t.TempDir()
	dataDir := t.TempDir()
	benchCreateExtensions(t, dataDir, firstCaller, maxCalls)
	benchBox(t, dataDir, dir, box, "Sales", "4321")
	// rtp_stream reads the file from SIPp's working directory; it loops, so
	// a file as long as the message never wraps.
	benchWriteSpeech(t, dir, filepath.Join(dir, "speech.pcmu"), message)

	// Deposits are logged at info; JSON lines are parsed for the figures.
	srv := startServer(t, dataDir, "--log-level", "info", "--log-format", "json", "--rtp-ports", "20000-29999")

	var lines []string
	for i := range maxCalls {
		caller := strconv.Itoa(firstCaller + i)
		lines = append(lines, caller+";"+box+";"+sippTestSecret(caller))
	}
	calls := filepath.Join(dir, "calls.csv")
	benchWriteCSV(t, calls, lines)
	callerPort := freePort(t)

	type row struct {
		calls, ok, failed, before, after int
		dep                              benchDeposits
		cpu, elapsed                     time.Duration
	}
	var rows []row
	problems := map[string]int{}
	var other []string
	logOffset := int64(0)
	_, logOffset = benchReadDeposits(t, srv, logOffset) // start-up lines
	for _, n := range steps {
		rate := max(10, int(float64(n)/rampTime.Seconds()))
		statFile := filepath.Join(dir, fmt.Sprintf("deposits-%d.csv", n))
		before := len(boxMessages(t, dataDir, box))
		cpu0 := benchServerCPU(t, srv)
		start := time.Now()
		res := sippExec(t, sippRun{
			Name:           fmt.Sprintf("deposits-%d", n),
			Scenario:       "uac_vm_deposit.xml",
			Remote:         srv.SIPAddr,
			Port:           callerPort,
			Calls:          n,
			Timeout:        message + rampTime + 60*time.Second,
			NoMessageTrace: true,
			Dir:            dir,
			Args: []string{"-inf", calls, "-r", strconv.Itoa(rate), "-rp", "1000", "-l", strconv.Itoa(n),
				"-d", strconv.Itoa(int(message.Milliseconds())), "-trace_stat", "-stf", statFile, "-fd", "1"},
		})
		st, err := benchReadStats(statFile)
		if err != nil {
			t.Fatalf("%v\n%s", err, res.Report())
		}
		r := row{calls: n, ok: st.int("SuccessfulCall(C)"), failed: st.int("FailedCall(C)"), before: before}
		// Every answered call ends in one deposit line: wait for them.
		var dep benchDeposits
		for deadline := time.Now().Add(saveTimeout); ; time.Sleep(100 * time.Millisecond) {
			dep, _ = benchReadDeposits(t, srv, logOffset)
			if dep.done() >= r.ok+r.failed || time.Now().After(deadline) {
				break
			}
		}
		r.cpu, r.elapsed = benchServerCPU(t, srv)-cpu0, time.Since(start)
		// A last look, in case a deposit the callers saw fail is logged late.
		time.Sleep(200 * time.Millisecond)
		dep, logOffset = benchReadDeposits(t, srv, logOffset)
		r.dep = dep
		r.after = len(boxMessages(t, dataDir, box))
		rows = append(rows, r)
		for k, v := range dep.problems {
			problems[k] += v
		}
		other = append(other, dep.other...)
		if r.ok == 0 || dep.saved == 0 {
			t.Fatalf("%d callers: %d calls succeeded, %d messages saved\n%s", n, r.ok, dep.saved, res.Report())
		}
		if r.failed > 0 {
			t.Logf("%d of %d calls failed; SIPp errors:\n%s", r.failed, n, sippClip(res.Errors, 4<<10))
		}
		if !benchDepositsHeld(r.calls, r.ok, r.after-r.before, dep) {
			break // the step failed: bigger ones only take longer
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\nConcurrent voicemail deposits into one shared box: 1 s greeting, beep, %v of G.711 speech each, UDP, %d CPUs\n",
		message, runtime.NumCPU())
	fmt.Fprintf(&b, "%7s %5s %7s %6s %5s %9s %9s %8s %9s %11s %15s %12s\n",
		"callers", "ok", "failed", "stored", "lost", "packets", "RTP lost", "loss %", "mean s", "server CPU", "CPU ms/deposit", "core/deposit")
	held := 0
	for _, r := range rows {
		stored := r.after - r.before
		perDeposit := float64(r.cpu.Milliseconds()) / float64(max(stored, 1))
		mean := 0.0
		if r.dep.saved > 0 {
			mean = r.dep.seconds / float64(r.dep.saved)
		}
		fmt.Fprintf(&b, "%7d %5d %7d %6d %5d %9d %9d %8.3f %9.1f %10.0f%% %15.0f %11.2f%%\n",
			r.calls, r.ok, r.failed, stored, max(r.calls-stored, 0), r.dep.expected, r.dep.expected-r.dep.received,
			r.dep.lossPercent(), mean, 100*r.cpu.Seconds()/r.elapsed.Seconds(), perDeposit,
			100*perDeposit/float64(message.Milliseconds()))
		if r.dep.tooShort > 0 || r.dep.notSaved > 0 || r.dep.saved != stored || len(r.dep.endedBy) != 1 || r.dep.endedBy["hangup"] == 0 {
			fmt.Fprintf(&b, "        (logged: %d saved, %d too short, %d not saved; shortest %.1f s; ended by %v)\n",
				r.dep.saved, r.dep.tooShort, r.dep.notSaved, r.dep.minSeconds, r.dep.endedBy)
		}
		if benchDepositsHeld(r.calls, r.ok, stored, r.dep) {
			held = r.calls
		}
	}
	fmt.Fprintf(&b, "A stored message: %s\n", benchCheckMessage(t, dataDir))
	fmt.Fprintf(&b, "Largest step with every call completed, every message stored and RTP loss <= 0.1%%: %d concurrent deposits.\n", held)
	fmt.Fprintf(&b, "(stored: the box's new messages; packets and RTP lost: the server's count over the stored messages, from RTP\n"+
		"sequence numbers; mean s: stored length; server CPU: share of one core over the step, set-up and storing included;\n"+
		"core/deposit: CPU per deposit over the %v message.)\n", message)
	if len(problems) > 0 {
		fmt.Fprintf(&b, "Warnings and errors in the server log:\n")
		for _, k := range slices.Sorted(maps.Keys(problems)) {
			fmt.Fprintf(&b, "  %5d x %s\n", problems[k], k)
		}
	}
	if len(other) > 0 {
		fmt.Fprintf(&b, "Server log lines that are not JSON (first ones):\n  %s\n", strings.Join(other, "\n  "))
	}
	fmt.Print(b.String())
}

// benchDepositsHeld says whether a step kept every message: all calls
// completed, as many messages stored, and loss at 0.1% or less.
func benchDepositsHeld(calls, ok, stored int, dep benchDeposits) bool {
	return ok == calls && stored == calls && dep.saved == calls && dep.lossPercent() <= 0.1
}

// benchCheckMessage describes one stored message's audio, to show that the
// speech, not silence, reached the box.
func benchCheckMessage(t *testing.T, dataDir string) string {
	t.Helper()
	wavs, _ := filepath.Glob(filepath.Join(dataDir, "messages", "*.wav"))
	if len(wavs) == 0 {
		return "none found"
	}
	w, err := readWAV(wavs[0])
	if err != nil {
		t.Fatalf("stored message: %v", err)
	}
	a := analyzeTones(w, nil)
	return fmt.Sprintf("%.1f s at %d Hz, %.1f s of it above -50 dBFS (speech with its pauses)",
		a.Total.Seconds(), w.SampleRate, a.Active.Seconds())
}
