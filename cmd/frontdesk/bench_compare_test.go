//go:build bench

package main

// `make bench-compare`: the same SIPp scenarios against Frontdesk and
// against Asterisk on this machine, in one run, alternating between them
// step by step (so that a busy moment of the machine falls on both), and
// the figures side by side with their ratio.

import (
	"fmt"
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

// compareTarget is one PBX under comparison.
type compareTarget struct {
	name    string
	sipAddr string
	pid     int
	// recordings lists the stored messages' audio files.
	recordings func() []string
}

// cpu is the target's CPU time so far.
func (c compareTarget) cpu(t *testing.T) time.Duration {
	t.Helper()
	d, err := benchCPU(c.pid)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return d
}

// compareFrames is the frame count of the marked speech: longer than any
// message, so that indexes never wrap.
const compareFrames = 60 * 50

// compareWriteMarkedSpeech writes speech for SIPp's rtp_stream in which
// the first four bytes of every 20 ms frame carry the frame's index (as
// benchWritePCMU's quiet frames do). The index survives decoding to a WAV
// recording and back, so the recordings themselves tell which frames
// reached the stored message: the same measure for both PBXs, whatever
// each logs.
func compareWriteMarkedSpeech(t *testing.T, dir, path string) {
	t.Helper()
	benchWriteSpeech(t, dir, path, compareFrames*20*time.Millisecond)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; (i+1)*benchFrame <= len(b); i++ {
		f := b[i*benchFrame:]
		f[0], f[1], f[2], f[3] = 0x20+byte(i>>18&63), 0x20+byte(i>>12&63), 0x20+byte(i>>6&63), 0x20+byte(i&63)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// compareAudit is what the recordings of one step hold.
type compareAudit struct {
	files, unmarked int // recordings; those with no frame index found
	frames, present int // frames between each one's first and last index; those found
	seconds         float64
	shortest        float64
}

func (a compareAudit) lossPercent() float64 {
	if a.frames == 0 {
		return 100
	}
	return 100 * float64(a.frames-a.present) / float64(a.frames)
}

// compareAuditRecording finds the frame indexes in one recording: it
// re-encodes the samples as mu-law, takes the alignment (0-159 samples)
// at which most frames carry an index, and counts the distinct indexes
// between the first and the last. Frames missing in between were lost on
// the way to the file; the recording's start and end (the greeting, the
// hangup, trimmed silence) do not count.
func compareAuditRecording(path string) (frames, present int, seconds float64, err error) {
	w, err := readWAV(path)
	if err != nil {
		return 0, 0, 0, err
	}
	if w.SampleRate != 8000 {
		return 0, 0, 0, fmt.Errorf("%s: %d Hz, want 8000", path, w.SampleRate)
	}
	u := make([]byte, len(w.Samples))
	for i, s := range w.Samples {
		u[i] = linearToUlaw(s)
	}
	best := map[int]bool{}
	for off := range benchFrame {
		seen := map[int]bool{}
		for p := off; p+4 <= len(u); p += benchFrame {
			if idx, ok := benchFrameIndex(u[p : p+4]); ok && idx < compareFrames {
				seen[idx] = true
			}
		}
		if len(seen) > len(best) {
			best = seen
		}
	}
	seconds = float64(len(w.Samples)) / 8000
	// Speech bytes pass for an index now and then; a real run of frames
	// does not stand alone. An index needs a neighbour within 3 frames.
	idx := slices.Sorted(maps.Keys(best))
	var kept []int
	for i, v := range idx {
		if (i > 0 && v-idx[i-1] <= 3) || (i+1 < len(idx) && idx[i+1]-v <= 3) {
			kept = append(kept, v)
		}
	}
	if len(kept) == 0 {
		return 0, 0, seconds, nil
	}
	return kept[len(kept)-1] - kept[0] + 1, len(kept), seconds, nil
}

// compareAuditStep audits the recordings in paths.
func compareAuditStep(t *testing.T, paths []string) compareAudit {
	t.Helper()
	var a compareAudit
	for _, p := range paths {
		frames, present, secs, err := compareAuditRecording(p)
		if err != nil {
			t.Fatalf("auditing a recording: %v", err)
		}
		a.files++
		if frames == 0 {
			a.unmarked++
		}
		a.frames += frames
		a.present += present
		a.seconds += secs
		if a.files == 1 || secs < a.shortest {
			a.shortest = secs
		}
	}
	return a
}

// compareRegRow is one registration step on one PBX.
type compareRegRow struct {
	ok, failed int
	achieved   float64 // registrations per second
	cpuPer1000 float64 // ms
	skipped    bool    // past its collapse at a lower rate
}

// compareDepRow is one deposit step on one PBX.
type compareDepRow struct {
	ok, failed, stored int
	audit              compareAudit
	cpuPerDeposit      float64 // ms
}

func (r compareDepRow) held(calls int) bool {
	return r.ok == calls && r.stored == calls && r.audit.unmarked == 0 && r.audit.lossPercent() <= 0.1
}

// TestBenchCompare measures Frontdesk and Asterisk (Debian sid's package,
// in the sid root) with the same SIPp scenarios, the same 300 extensions
// and secrets, and one voicemail box with the same 1 s greeting:
//
//   - authenticated registrations per second, stepping up the offered
//     rate (REGISTER, 401, REGISTER with MD5 digest, 200);
//   - concurrent 30 s voicemail deposits, stepping up the callers: calls
//     completed, messages stored, the audio lost on the way to the stored
//     file (frame indexes in the recordings), and CPU per deposit.
//
// Each step runs on one PBX and then the other, the order swapping every
// step. It prints both figures and their ratio, and fails only if the
// harness cannot run.
func TestBenchCompare(t *testing.T) {
	sippRequire(t)
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found in PATH (%v); `make test` installs it", tool, err)
		}
	}
	const (
		users     = 300
		firstUser = 4000
		box       = "600"
		pin       = "4321"
		rampTime  = 3 * time.Second
	)
	message := 30 * time.Second
	regRates := []int{250, 500, 1000, 1500, 2000, 3000}
	depSteps := []int{20, 50, 100, 200, 300}
	// A quick pass over the harness itself: one small step of each.
	if os.Getenv("FRONTDESK_BENCH_QUICK") != "" {
		message, regRates, depSteps = 5*time.Second, []int{250}, []int{5}
	}
	dir := t.TempDir()
	compareWriteMarkedSpeech(t, dir, filepath.Join(dir, "speech.pcmu"))

	dataDir := t.TempDir()
	benchCreateExtensions(t, dataDir, firstUser, users)
	benchBox(t, dataDir, dir, box, "Bench box", pin)
	greeting := filepath.Join(dir, "greeting.wav")
	fd := startServer(t, dataDir, "--log-level", "warn", "--rtp-ports", "20000-29999")

	var astUsers []asteriskUser
	var regLines, depLines []string
	for i := range users {
		ext := strconv.Itoa(firstUser + i)
		astUsers = append(astUsers, asteriskUser{Name: ext, Secret: sippTestSecret(ext)})
		regLines = append(regLines, ext+";"+sippTestSecret(ext))
		depLines = append(depLines, ext+";"+box+";"+sippTestSecret(ext))
	}
	ast := startAsterisk(t, astUsers, box, pin, greeting)
	astVersion, _ := ast.rx(t.Context(), "core show version")
	if f := strings.Fields(astVersion); len(f) >= 2 {
		astVersion = f[0] + " " + f[1]
	}

	targets := []compareTarget{
		{name: "Frontdesk", sipAddr: fd.SIPAddr, pid: fd.cmd.Process.Pid, recordings: func() []string {
			m, _ := filepath.Glob(filepath.Join(dataDir, "messages", "*.wav"))
			return m
		}},
		{name: "Asterisk", sipAddr: ast.SIPAddr, pid: ast.pid(t), recordings: ast.messages},
	}
	regCSV, depCSV := filepath.Join(dir, "register.csv"), filepath.Join(dir, "deposit.csv")
	benchWriteCSV(t, regCSV, regLines)
	benchWriteCSV(t, depCSV, depLines)
	port := freePort(t)

	// order alternates which PBX goes first in a step.
	order := func(step int) []int {
		if step%2 == 0 {
			return []int{0, 1}
		}
		return []int{1, 0}
	}

	// Registrations.
	const regStep = 4 * time.Second
	regRows := make([][2]compareRegRow, len(regRates))
	collapsed := [2]bool{}
	for step, rate := range regRates {
		total := rate * int(regStep/time.Second)
		for _, i := range order(step) {
			tg := targets[i]
			if collapsed[i] {
				regRows[step][i].skipped = true
				continue
			}
			statFile := filepath.Join(dir, fmt.Sprintf("reg-%s-%d.csv", tg.name, rate))
			cpu0 := tg.cpu(t)
			res := sippExec(t, sippRun{
				Name: fmt.Sprintf("register-%s-%d", tg.name, rate), Scenario: "register_inf.xml",
				Remote: tg.sipAddr, Port: port, Calls: total, Timeout: regStep + 40*time.Second,
				NoMessageTrace: true, Dir: dir,
				Args: []string{"-inf", regCSV, "-r", strconv.Itoa(rate), "-rp", "1000",
					"-l", strconv.Itoa(2 * rate), "-trace_stat", "-stf", statFile, "-fd", "1",
					"-recv_timeout", "5000", "-default_behaviors", "all,-bye"},
			})
			cpu := tg.cpu(t) - cpu0
			st, err := benchReadStats(statFile)
			if err != nil {
				t.Fatalf("%s: %v\n%s", tg.name, err, res.Report())
			}
			r := compareRegRow{ok: st.int("SuccessfulCall(C)"), failed: st.int("FailedCall(C)")}
			r.achieved = float64(r.ok) / res.Elapsed.Seconds()
			if r.ok > 0 {
				r.cpuPer1000 = float64(cpu.Milliseconds()) * 1000 / float64(r.ok)
			}
			if r.ok == 0 {
				t.Fatalf("%s: no registration succeeded at %d/s\n%s", tg.name, rate, res.Report())
			}
			regRows[step][i] = r
			collapsed[i] = r.failed > total/10
		}
	}

	// Deposits.
	depRows := make([][2]compareDepRow, len(depSteps))
	ended := [2]bool{}
	for step, n := range depSteps {
		rate := max(10, int(float64(n)/rampTime.Seconds()))
		for _, i := range order(step) {
			tg := targets[i]
			if ended[i] {
				continue
			}
			before := map[string]bool{}
			for _, p := range tg.recordings() {
				before[p] = true
			}
			statFile := filepath.Join(dir, fmt.Sprintf("dep-%s-%d.csv", tg.name, n))
			cpu0 := tg.cpu(t)
			res := sippExec(t, sippRun{
				Name: fmt.Sprintf("deposits-%s-%d", tg.name, n), Scenario: "uac_vm_deposit.xml",
				Remote: tg.sipAddr, Port: port, Calls: n, Timeout: message + rampTime + 60*time.Second,
				NoMessageTrace: true, Dir: dir,
				Args: []string{"-inf", depCSV, "-r", strconv.Itoa(rate), "-rp", "1000", "-l", strconv.Itoa(n),
					"-d", strconv.Itoa(int(message.Milliseconds())), "-trace_stat", "-stf", statFile, "-fd", "1"},
			})
			st, err := benchReadStats(statFile)
			if err != nil {
				t.Fatalf("%s: %v\n%s", tg.name, err, res.Report())
			}
			r := compareDepRow{ok: st.int("SuccessfulCall(C)"), failed: st.int("FailedCall(C)")}
			// The last messages are written after the hangups.
			var fresh []string
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				fresh = fresh[:0]
				for _, p := range tg.recordings() {
					if !before[p] {
						fresh = append(fresh, p)
					}
				}
				if len(fresh) >= r.ok || time.Now().After(deadline) {
					break
				}
			}
			time.Sleep(time.Second) // a file still being finished
			cpu := tg.cpu(t) - cpu0
			r.stored = len(fresh)
			r.audit = compareAuditStep(t, fresh)
			r.cpuPerDeposit = float64(cpu.Milliseconds()) / float64(max(r.stored, 1))
			if r.ok == 0 {
				t.Fatalf("%s: no deposit completed with %d callers\n%s", tg.name, n, res.Report())
			}
			if r.failed > 0 {
				t.Logf("%s: %d of %d deposits failed; SIPp errors:\n%s", tg.name, r.failed, n, sippClip(res.Errors, 2<<10))
			}
			depRows[step][i] = r
			ended[i] = !r.held(n)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\nFrontdesk %s and %s, side by side on one machine (%d CPUs), UDP over loopback, %s\n",
		strings.TrimSpace(runCLI(t, dataDir, "version")), astVersion, runtime.NumCPU(), sippVersion())
	fmt.Fprintf(&b, "\nAuthenticated registrations per second, %d extensions (REGISTER, 401, REGISTER with MD5 digest, 200), %v per step\n",
		users, regStep)
	fmt.Fprintf(&b, "%9s | %-31s | %-31s | %s\n", "", "Frontdesk", "Asterisk", "Frontdesk / Asterisk")
	fmt.Fprintf(&b, "%9s | %10s %7s %12s | %10s %7s %12s | %8s %10s\n", "offered/s",
		"achieved/s", "failed", "CPU ms/1000", "achieved/s", "failed", "CPU ms/1000", "rate", "CPU")
	var bestReg [2]float64
	for step, rate := range regRates {
		f, a := regRows[step][0], regRows[step][1]
		fmt.Fprintf(&b, "%9d | %s | %s | %8s %10s\n", rate, regCell(f), regCell(a),
			ratio(f.achieved, a.achieved, f.skipped || a.skipped), ratio(f.cpuPer1000, a.cpuPer1000, f.skipped || a.skipped))
		for i, r := range regRows[step] {
			if !r.skipped && r.failed == 0 {
				bestReg[i] = max(bestReg[i], r.achieved)
			}
		}
	}
	fmt.Fprintf(&b, "Best rate with no failures: Frontdesk %.0f/s, Asterisk %.0f/s (ratio %s)\n",
		bestReg[0], bestReg[1], ratio(bestReg[0], bestReg[1], false))

	fmt.Fprintf(&b, "\nConcurrent voicemail deposits into one box: 1 s greeting, beep, %v of G.711 speech each\n", message)
	fmt.Fprintf(&b, "%7s | %-53s | %-53s | %s\n", "", "Frontdesk", "Asterisk", "Frontdesk / Asterisk")
	fmt.Fprintf(&b, "%7s | %5s %6s %6s %5s %7s %7s %11s | %5s %6s %6s %5s %7s %7s %11s | %10s\n", "callers",
		"ok", "failed", "stored", "lost", "frames", "loss %", "CPU ms/dep", "ok", "failed", "stored", "lost", "frames", "loss %", "CPU ms/dep", "CPU/deposit")
	var held [2]int
	var both int // the largest step both held
	var bothCPU [2]float64
	for step, n := range depSteps {
		f, a := depRows[step][0], depRows[step][1]
		fmt.Fprintf(&b, "%7d | %s | %s | %10s\n", n, depCell(f, n), depCell(a, n),
			ratio(f.cpuPerDeposit, a.cpuPerDeposit, f.ok == 0 || a.ok == 0))
		for i, r := range depRows[step] {
			if r.ok > 0 && r.held(n) {
				held[i] = n
			}
			if r.audit.unmarked > 0 {
				fmt.Fprintf(&b, "        (%s: %d recordings without frame indexes)\n", targets[i].name, r.audit.unmarked)
			}
		}
		if f.ok > 0 && f.held(n) && a.ok > 0 && a.held(n) {
			both, bothCPU = n, [2]float64{f.cpuPerDeposit, a.cpuPerDeposit}
		}
	}
	fmt.Fprintf(&b, "Largest step with every call completed, every message stored and loss <= 0.1%%: Frontdesk %d, Asterisk %d (ratio %s)\n",
		held[0], held[1], ratio(float64(held[0]), float64(held[1]), false))
	fmt.Fprintf(&b, "CPU per deposit at the largest step both held (%d callers): Frontdesk %.0f ms, Asterisk %.0f ms (ratio %s)\n",
		both, bothCPU[0], bothCPU[1], ratio(bothCPU[0], bothCPU[1], false))
	fmt.Fprintf(&b, "(lost: calls SIPp completed with no new recording; frames: 20 ms frames from the first to the last one\n"+
		"found in each recording, summed; loss %%: those missing, from indexes carried in the audio; CPU: the PBX\n"+
		"process's user+system time over the step, set-up and storing included, divided by the messages stored.\n"+
		"A step stops for a PBX after the first one it does not hold.)\n")
	fmt.Print(b.String())
}

// regCell renders one PBX's registration figures.
func regCell(r compareRegRow) string {
	if r.skipped {
		return fmt.Sprintf("%10s %7s %12s", "-", "-", "-")
	}
	return fmt.Sprintf("%10.0f %7d %12.0f", r.achieved, r.failed, r.cpuPer1000)
}

// depCell renders one PBX's deposit figures.
func depCell(r compareDepRow, calls int) string {
	if r.ok == 0 && r.failed == 0 {
		return fmt.Sprintf("%5s %6s %6s %5s %7s %7s %11s", "-", "-", "-", "-", "-", "-", "-")
	}
	return fmt.Sprintf("%5d %6d %6d %5d %7d %7.3f %11.0f", r.ok, r.failed, r.stored, max(r.ok-r.stored, 0),
		r.audit.frames, r.audit.lossPercent(), r.cpuPerDeposit)
}

// ratio renders a/b, or "-".
func ratio(a, b float64, missing bool) string {
	if missing || a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// sippVersion is the first line SIPp prints about itself.
func sippVersion() string {
	out, _ := exec.Command("sipp", "-v").CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "SIPp v") {
			return strings.TrimSpace(line)
		}
	}
	return "unknown version"
}
