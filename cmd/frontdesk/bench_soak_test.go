//go:build bench

package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// soakSample is one reading of the server's resources during the soak.
type soakSample struct {
	at                   time.Duration // since the calls started
	rss, heap            float64       // bytes
	fds, goroutines      float64
	calls, saved, active float64 // from the server's counters
}

// soakRead reads the server's /metrics (loopback only, no login).
func soakRead(srv *frontdeskServer) (map[string]float64, error) {
	res, err := http.Get(srv.HTTPURL + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading /metrics: %s %v", res.Status, err)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[line[:i]] = v
		}
	}
	return m, nil
}

func soakTake(t *testing.T, srv *frontdeskServer, at time.Duration) soakSample {
	t.Helper()
	m, err := soakRead(srv)
	if err != nil {
		t.Fatal(err)
	}
	return soakSample{
		at: at, rss: m["process_resident_memory_bytes"], heap: m["go_memstats_heap_inuse_bytes"],
		fds: m["process_open_fds"], goroutines: m["go_goroutines"],
		calls: m["frontdesk_calls_total"], saved: m[`frontdesk_voicemail_deposits_total{result="saved"}`],
		active: m["frontdesk_calls_active"],
	}
}

// soakMean averages a figure over the samples taken in [from, to).
func soakMean(samples []soakSample, from, to time.Duration, f func(soakSample) float64) float64 {
	sum, n := 0.0, 0
	for _, s := range samples {
		if s.at >= from && s.at < to {
			sum += f(s)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// TestSoak holds a steady rate of calls into one voicemail box for
// FRONTDESK_SOAK (a Go duration, 1h by default; `make soak`), while the
// callers' phones keep re-registering, and samples the server's memory,
// goroutines and file descriptors every FRONTDESK_SOAK_EVERY (30 s). It
// fails if a message is lost (every call SIPp completed must be a stored
// message), or if the server keeps what the calls used: file descriptors
// or goroutines above their level before the calls once the calls are
// over, or resident memory in the last quarter of the run more than 25%
// above the second quarter's (the first quarter is warm-up: SQLite's page
// cache and Go's heap settle).
func TestSoak(t *testing.T) {
	sippRequire(t)
	duration, every := time.Hour, 30*time.Second
	if v := os.Getenv("FRONTDESK_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("FRONTDESK_SOAK=%q: %v", v, err)
		}
		duration = d
	}
	if v := os.Getenv("FRONTDESK_SOAK_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("FRONTDESK_SOAK_EVERY=%q: %v", v, err)
		}
		every = d
	}
	const (
		box         = "600"
		firstCaller = 101
		callers     = 50
		rate        = 1                // new calls per second
		message     = 15 * time.Second // speech per call: about 16 calls up at once
	)
	total := int(duration.Seconds()) * rate

	dir := t.TempDir()
	dataDir := t.TempDir()
	benchCreateExtensions(t, dataDir, firstCaller, callers)
	benchBox(t, dataDir, dir, box, "Sales", "4321")
	benchWriteSpeech(t, dir, filepath.Join(dir, "speech.pcmu"), message)

	srv := startServer(t, dataDir, "--log-level", "warn", "--rtp-ports", "20000-29999")

	var calls, regs []string
	for i := range callers {
		caller := strconv.Itoa(firstCaller + i)
		calls = append(calls, caller+";"+box+";"+sippTestSecret(caller))
		regs = append(regs, caller+";"+sippTestSecret(caller))
	}
	callsCSV, regsCSV := filepath.Join(dir, "calls.csv"), filepath.Join(dir, "regs.csv")
	benchWriteCSV(t, callsCSV, calls)
	benchWriteCSV(t, regsCSV, regs)

	before := soakTake(t, srv, 0)
	start := time.Now()
	// The phones re-register throughout, each about once a minute.
	regPort := freePort(t)
	registrations := sippStart(t, sippRun{
		Name: "soak-registrations", Scenario: "register_inf.xml", Remote: srv.SIPAddr, Port: regPort,
		Calls: int(duration.Minutes()+1) * callers, Timeout: duration + 5*time.Minute, NoMessageTrace: true, Dir: dir,
		Args: []string{"-inf", regsCSV, "-r", strconv.Itoa(callers), "-rp", "60000", "-l", strconv.Itoa(callers)},
	})
	statFile := filepath.Join(dir, "soak-calls.csv")
	deposits := sippStart(t, sippRun{
		Name: "soak-deposits", Scenario: "uac_vm_deposit.xml", Remote: srv.SIPAddr, Port: freePort(t),
		Calls: total, Timeout: duration + message + 5*time.Minute, NoMessageTrace: true, Dir: dir,
		Args: []string{"-inf", callsCSV, "-r", strconv.Itoa(rate), "-rp", "1000", "-l", "200",
			"-d", strconv.Itoa(int(message.Milliseconds())), "-trace_stat", "-stf", statFile, "-fd", "60"},
	})

	samples := []soakSample{}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-deposits.done:
			waiting = false
		case <-tick.C:
			s := soakTake(t, srv, time.Since(start))
			samples = append(samples, s)
			t.Logf("%6s  calls %6.0f  saved %6.0f  up %3.0f  RSS %6.1f MiB  heap %6.1f MiB  fds %4.0f  goroutines %5.0f",
				s.at.Round(time.Second), s.calls, s.saved, s.active, s.rss/(1<<20), s.heap/(1<<20), s.fds, s.goroutines)
		}
	}
	res := deposits.Wait()
	registrations.cancel()
	registrations.Wait()
	elapsed := time.Since(start)
	st, err := benchReadStats(statFile)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Report())
	}
	ok, failed := st.int("SuccessfulCall(C)"), st.int("FailedCall(C)")

	// Quiet again: the last messages stored, the calls' sockets closed.
	var after soakSample
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		after = soakTake(t, srv, time.Since(start))
		if (after.active == 0 && after.saved-before.saved >= float64(ok)) || time.Now().After(deadline) {
			break
		}
	}
	// SIP transactions outlive their last message (a finished non-INVITE
	// transaction absorbs retransmissions for 64*T1 = 32 s): wait them out.
	time.Sleep(40 * time.Second)
	after = soakTake(t, srv, time.Since(start))
	stored := len(boxMessages(t, dataDir, box))

	q := elapsed / 4
	rss2 := soakMean(samples, q, 2*q, func(s soakSample) float64 { return s.rss })
	rss4 := soakMean(samples, 3*q, elapsed, func(s soakSample) float64 { return s.rss })
	heap2 := soakMean(samples, q, 2*q, func(s soakSample) float64 { return s.heap })
	heap4 := soakMean(samples, 3*q, elapsed, func(s soakSample) float64 { return s.heap })
	maxFDs := slices.MaxFunc(samples, func(a, b soakSample) int { return int(a.fds - b.fds) }).fds

	var b strings.Builder
	fmt.Fprintf(&b, "\nSoak: %v of voicemail deposits at %d call/s (%v of G.711 speech each, about %d up at once), %d phones re-registering every minute, %d CPUs\n",
		elapsed.Round(time.Second), rate, message, int(message.Seconds()+3)*rate, callers, runtime.NumCPU())
	fmt.Fprintf(&b, "calls: %d completed, %d failed; messages stored: %d; lost: %d\n", ok, failed, stored, max(ok-stored, 0))
	fmt.Fprintf(&b, "%10s %8s %10s %10s %6s %11s\n", "", "RSS MiB", "heap MiB", "goroutines", "fds", "calls up")
	row := func(name string, s soakSample) {
		fmt.Fprintf(&b, "%10s %8.1f %10.1f %10.0f %6.0f %11.0f\n", name, s.rss/(1<<20), s.heap/(1<<20), s.goroutines, s.fds, s.active)
	}
	row("before", before)
	for i, s := range samples {
		if i%max(1, len(samples)/12) == 0 || i == len(samples)-1 {
			row(s.at.Round(time.Second).String(), s)
		}
	}
	row("after", after)
	fmt.Fprintf(&b, "RSS, mean of the 2nd quarter -> last quarter: %.1f -> %.1f MiB (%+.1f%%); heap in use: %.1f -> %.1f MiB (%+.1f%%)\n",
		rss2/(1<<20), rss4/(1<<20), 100*(rss4/rss2-1), heap2/(1<<20), heap4/(1<<20), 100*(heap4/heap2-1))
	fmt.Fprintf(&b, "fds: %.0f before, %.0f at most, %.0f after; goroutines: %.0f before, %.0f after\n",
		before.fds, maxFDs, after.fds, before.goroutines, after.goroutines)
	fmt.Print(b.String())

	if ok == 0 {
		t.Fatalf("no call completed\n%s", res.Report())
	}
	if failed > 0 {
		t.Logf("%d of %d calls failed; SIPp errors:\n%s", failed, total, sippClip(res.Errors, 4<<10))
	}
	if stored < ok {
		t.Errorf("%d calls completed but %d messages stored: %d lost", ok, stored, ok-stored)
	}
	// A few descriptors and goroutines come and go (idle HTTP keep-alive,
	// the store's connections); a leak is one per call or per registration.
	if after.fds > before.fds+10 {
		t.Errorf("file descriptors: %.0f before the calls, %.0f after them", before.fds, after.fds)
	}
	if after.goroutines > before.goroutines+20 {
		t.Errorf("goroutines: %.0f before the calls, %.0f after them", before.goroutines, after.goroutines)
	}
	if rss2 > 0 && rss4 > 1.25*rss2 {
		t.Errorf("resident memory grew from %.1f MiB (2nd quarter) to %.1f MiB (last quarter)", rss2/(1<<20), rss4/(1<<20))
	}
}
