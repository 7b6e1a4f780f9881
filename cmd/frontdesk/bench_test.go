//go:build bench

package main

// Benchmarks of the real server, driven by SIPp: `make bench` runs
//
//	go test -tags bench -run 'TestBench' -v -count=1 ./cmd/frontdesk
//
// They print figures and assert nothing about speed: they fail only if the
// harness cannot run (no SIPp, a server that does not start, no calls
// getting through at all). Everything runs on this machine over loopback,
// so SIPp and the RTP receiver compete with the server for the same CPUs:
// the figures are a floor for a dedicated server, and comparable between
// runs on the same machine.
//
// The server runs with --log-level warn, so the figures measure SIP and
// media handling, not debug logging.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchUserHZ is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const benchUserHZ = 100

// benchCPU returns the CPU time (user + system) the process has used.
func benchCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading CPU time: %w", err)
	}
	// The command name (field 2) may hold spaces; fields after its ')'
	// start at field 3, so utime (14) and stime (15) are at 11 and 12.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat: %q", pid, s)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / benchUserHZ, nil
}

// benchServerCPU is benchCPU for the server, failing the test on error.
func benchServerCPU(t *testing.T, srv *frontdeskServer) time.Duration {
	t.Helper()
	d, err := benchCPU(srv.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// benchStats is the end-of-run line of a SIPp -trace_stat file.
type benchStats map[string]string

// benchReadStats reads the last line of a SIPp statistics CSV.
func benchReadStats(path string) (benchStats, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading SIPp statistics: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return nil, fmt.Errorf("SIPp statistics %s have no data line", path)
	}
	names := strings.Split(lines[0], ";")
	values := strings.Split(lines[len(lines)-1], ";")
	st := benchStats{}
	for i, n := range names {
		if i < len(values) {
			st[n] = values[i]
		}
	}
	return st, nil
}

func (s benchStats) int(name string) int {
	n, _ := strconv.Atoi(s[name])
	return n
}

// duration parses SIPp's "hh:mm:ss:uuuuuu".
func (s benchStats) duration(name string) time.Duration {
	p := strings.Split(s[name], ":")
	if len(p) != 4 {
		return 0
	}
	var v [4]int64
	for i := range p {
		v[i], _ = strconv.ParseInt(p[i], 10, 64)
	}
	return time.Duration(v[0])*time.Hour + time.Duration(v[1])*time.Minute +
		time.Duration(v[2])*time.Second + time.Duration(v[3])*time.Microsecond
}

// benchCreateExtensions adds extensions first..first+n-1 through the CLI.
func benchCreateExtensions(t *testing.T, dataDir string, first, n int) {
	t.Helper()
	for i := range n {
		ext := strconv.Itoa(first + i)
		runCLI(t, dataDir, "ext", "add", ext, "--name", "Bench "+ext, "--secret", sippTestSecret(ext))
	}
}

// benchWriteCSV writes a SIPp injection file read in order.
func benchWriteCSV(t *testing.T, path string, lines []string) {
	t.Helper()
	data := "SEQUENTIAL\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatalf("writing injection file: %v", err)
	}
}

// benchRegisterAll registers extensions first..first+n-1 from one SIPp port
// (they all then ring there).
func benchRegisterAll(t *testing.T, srv *frontdeskServer, dir string, first, n, port int) {
	t.Helper()
	var lines []string
	for i := range n {
		ext := strconv.Itoa(first + i)
		lines = append(lines, ext+";"+sippTestSecret(ext))
	}
	csv := filepath.Join(dir, fmt.Sprintf("register-%d.csv", first))
	benchWriteCSV(t, csv, lines)
	res := sippExec(t, sippRun{
		Name:           fmt.Sprintf("register-%d-%d", first, first+n-1),
		Scenario:       "register_inf.xml",
		Remote:         srv.SIPAddr,
		Port:           port,
		Calls:          n,
		Timeout:        60 * time.Second,
		NoMessageTrace: true,
		Args:           []string{"-inf", csv, "-r", "100", "-rp", "1000"},
	})
	sippMustPass(t, res)
}

// TestBenchRegistrations measures authenticated registrations per second:
// each is a REGISTER, its 401 challenge, the REGISTER with MD5 digest
// credentials and its 200, for 300 distinct extensions in turn. The offered
// rate steps up; for each step it prints the rate achieved, failures,
// SIPp's mean time for the whole registration, and the server's CPU time
// per 1,000 registrations.
func TestBenchRegistrations(t *testing.T) {
	sippRequire(t)
	const (
		users     = 300
		firstUser = 4000
		stepTime  = 4 * time.Second
	)
	rates := []int{250, 500, 1000, 1500, 2000}

	dataDir := t.TempDir()
	benchCreateExtensions(t, dataDir, firstUser, users)
	srv := startServer(t, dataDir, "--log-level", "warn")

	dir := t.TempDir()
	var lines []string
	for i := range users {
		ext := strconv.Itoa(firstUser + i)
		lines = append(lines, ext+";"+sippTestSecret(ext))
	}
	csv := filepath.Join(dir, "users.csv")
	benchWriteCSV(t, csv, lines)
	port := freePort(t)

	type row struct {
		offered, total, ok, failed, retrans int
		elapsed, latency, cpu               time.Duration
	}
	var rows []row
	for _, rate := range rates {
		total := rate * int(stepTime/time.Second)
		statFile := filepath.Join(dir, fmt.Sprintf("stats-%d.csv", rate))
		cpu0 := benchServerCPU(t, srv)
		res := sippExec(t, sippRun{
			Name:           fmt.Sprintf("register-rate-%d", rate),
			Scenario:       "register_inf.xml",
			Remote:         srv.SIPAddr,
			Port:           port,
			Calls:          total,
			Timeout:        stepTime + 40*time.Second,
			NoMessageTrace: true,
			Dir:            dir,
			Args: []string{"-inf", csv, "-r", strconv.Itoa(rate), "-rp", "1000",
				"-l", strconv.Itoa(2 * rate), "-trace_stat", "-stf", statFile, "-fd", "1",
				// Past saturation, give up on a registration after 5 s
				// instead of retransmitting for 32 s, and do not send
				// BYEs for the REGISTER dialogs SIPp abandons.
				"-recv_timeout", "5000", "-default_behaviors", "all,-bye"},
		})
		cpu := benchServerCPU(t, srv) - cpu0
		st, err := benchReadStats(statFile)
		if err != nil {
			t.Fatalf("%v\n%s", err, res.Report())
		}
		r := row{
			offered: rate, total: total,
			ok: st.int("SuccessfulCall(C)"), failed: st.int("FailedCall(C)"),
			retrans: st.int("Retransmissions(C)"), latency: st.duration("ResponseTime1(C)"),
			elapsed: res.Elapsed, cpu: cpu,
		}
		rows = append(rows, r)
		if r.ok == 0 {
			t.Fatalf("no registration succeeded at %d/s\n%s", rate, res.Report())
		}
		if r.failed > 0 {
			t.Logf("%d of %d registrations failed at %d/s; SIPp errors:\n%s", r.failed, total, rate, sippClip(res.Errors, 4<<10))
		}
		// Past saturation, more offered load only adds retransmissions.
		if r.failed > total/10 {
			break
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\nAuthenticated registrations (REGISTER, 401, REGISTER with MD5 digest, 200), %d distinct extensions, UDP, %d CPUs\n",
		users, runtime.NumCPU())
	fmt.Fprintf(&b, "%9s %7s %7s %7s %8s %10s %8s %15s %11s\n",
		"offered/s", "sent", "ok", "failed", "retrans", "achieved/s", "mean ms", "CPU ms/1000 reg", "server CPU")
	best := 0.0
	for _, r := range rows {
		achieved := float64(r.ok) / r.elapsed.Seconds()
		perThousand := 0.0
		if r.ok > 0 {
			perThousand = float64(r.cpu.Milliseconds()) * 1000 / float64(r.ok)
		}
		// SIPp measures in whole milliseconds (its timer resolution).
		latency := fmt.Sprintf("%d", r.latency.Milliseconds())
		if r.latency < time.Millisecond {
			latency = "<1"
		}
		fmt.Fprintf(&b, "%9d %7d %7d %7d %8d %10.0f %8s %15.0f %10.0f%%\n",
			r.offered, r.total, r.ok, r.failed, r.retrans, achieved,
			latency, perThousand, 100*r.cpu.Seconds()/r.elapsed.Seconds())
		if r.failed == 0 && achieved > best {
			best = achieved
		}
	}
	fmt.Fprintf(&b, "Best rate with no failures: %.0f registrations/s (achieved/s counts SIPp's start-up and drain too;\n"+
		"mean ms is SIPp's time for the whole registration, both round trips).\n", best)
	fmt.Print(b.String())
}

// benchFrame is the number of PCMU bytes in one 20 ms RTP packet.
const benchFrame = 160

// benchWritePCMU writes raw G.711 mu-law audio for SIPp's rtp_stream in
// which every 160-byte frame starts with its index in four base-64 digits
// (bytes 0x20-0x5F). The PBX re-originates RTP (its own SSRC, sequence
// numbers and timestamps), so loss is counted from these indexes, which
// survive as long as the payload is relayed unchanged; the digits avoid
// 0x7F, the one mu-law code that decoding and re-encoding would change.
func benchWritePCMU(path string, frames int) error {
	buf := make([]byte, 0, frames*benchFrame)
	for i := range frames {
		buf = append(buf, 0x20+byte(i>>18&63), 0x20+byte(i>>12&63), 0x20+byte(i>>6&63), 0x20+byte(i&63))
		for range benchFrame - 4 {
			buf = append(buf, 0xD5) // quiet, not silence: a PBX may suppress silence
		}
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return fmt.Errorf("writing PCMU file: %w", err)
	}
	return nil
}

// benchFrameIndex decodes the frame index of an RTP payload written by
// benchWritePCMU.
func benchFrameIndex(payload []byte) (int, bool) {
	if len(payload) < 4 {
		return 0, false
	}
	idx := 0
	for _, c := range payload[:4] {
		if c < 0x20 || c > 0x5F {
			return 0, false
		}
		idx = idx<<6 | int(c-0x20)
	}
	return idx, true
}

// benchStreamKey identifies one relayed stream: the PBX relays each call
// from its own port, with its own SSRC.
type benchStreamKey struct {
	from string
	ssrc uint32
}

// benchStream records which frames of one stream arrived.
type benchStream struct {
	seen []bool
	max  int
	dups int
}

// benchRTPReceiver is the callees' media endpoint: it counts the frames
// the PBX relays and echoes every packet back, so the relay carries audio
// both ways as in a real conversation.
type benchRTPReceiver struct {
	conn *net.UDPConn
	mu   sync.Mutex
	// streams since the last reset; unmarked counts packets whose payload
	// carries no frame index.
	streams  map[benchStreamKey]*benchStream
	unmarked int
	done     chan struct{}
}

func benchStartReceiver(t *testing.T) *benchRTPReceiver {
	t.Helper()
	port := sippMediaPort(t)
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatalf("RTP receiver: %v", err)
	}
	// Bursts of hundreds of streams must not overflow the socket buffer:
	// loss there would be ours, not the PBX's.
	_ = conn.SetReadBuffer(8 << 20)
	_ = conn.SetWriteBuffer(8 << 20)
	r := &benchRTPReceiver{conn: conn, streams: map[benchStreamKey]*benchStream{}, done: make(chan struct{})}
	go r.run()
	t.Cleanup(func() {
		conn.Close()
		<-r.done
	})
	return r
}

func (r *benchRTPReceiver) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

func (r *benchRTPReceiver) run() {
	defer close(r.done)
	buf := make([]byte, 2048)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		_, _ = r.conn.WriteToUDPAddrPort(buf[:n], from)
		if n < 12 || buf[0]>>6 != 2 {
			continue // not RTP
		}
		// Skip CSRCs and a header extension to reach the payload.
		off := 12 + 4*int(buf[0]&0x0F)
		if buf[0]&0x10 != 0 && n >= off+4 {
			off += 4 + 4*int(binary.BigEndian.Uint16(buf[off+2:]))
		}
		if off > n {
			continue
		}
		idx, ok := benchFrameIndex(buf[off:n])
		key := benchStreamKey{from: from.String(), ssrc: binary.BigEndian.Uint32(buf[8:12])}
		r.mu.Lock()
		if !ok {
			r.unmarked++
		} else {
			s := r.streams[key]
			if s == nil {
				s = &benchStream{}
				r.streams[key] = s
			}
			for idx >= len(s.seen) {
				s.seen = append(s.seen, make([]bool, len(s.seen)+512)...)
			}
			if s.seen[idx] {
				s.dups++
			}
			s.seen[idx] = true
			s.max = max(s.max, idx)
		}
		r.mu.Unlock()
	}
}

// benchRTPResult sums up the streams received since the last reset.
type benchRTPResult struct {
	streams, expected, received, dups, unmarked int
}

// lossPercent is the share of frames that never arrived.
func (r benchRTPResult) lossPercent() float64 {
	if r.expected == 0 {
		return 100
	}
	return 100 * float64(r.expected-r.received) / float64(r.expected)
}

// takeResult returns the counts since the last call and resets them. Every
// stream starts at frame 0 (SIPp plays the file from its start for each
// call), so frames 0..max count as expected: lost first frames (audio
// clipped at the start of a call) are loss too. Frames lost after the last
// one received cannot be told from the caller hanging up.
func (r *benchRTPReceiver) takeResult() benchRTPResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := benchRTPResult{streams: len(r.streams), unmarked: r.unmarked}
	for _, s := range r.streams {
		res.expected += s.max + 1
		for _, ok := range s.seen[:s.max+1] {
			if ok {
				res.received++
			}
		}
		res.dups += s.dups
	}
	r.streams, r.unmarked = map[benchStreamKey]*benchStream{}, 0
	return res
}

// TestBenchCalls steps up the number of simultaneous calls between
// extensions, each with G.711 RTP relayed by the PBX in both directions
// (SIPp's rtp_stream from the callers, echoed back by the callees' Go
// receiver), and prints for each step the calls that succeeded, the RTP
// loss seen by the callees, and the server's CPU per call. It reports the
// largest step held at 0.1% loss or less.
func TestBenchCalls(t *testing.T) {
	sippRequire(t)
	const (
		firstCaller = 5000
		firstCallee = 6000
		hold        = 10 * time.Second // length of each call
		// The calls of a step start within rampTime, so each step keeps all
		// its calls up together for hold-rampTime.
		rampTime = 3 * time.Second
		// The PCMU file outlasts any call: frame indexes never wrap.
		fileFrames = 60 * 50
	)
	steps := []int{10, 25, 50, 100, 200, 300, 400}
	maxCalls := steps[len(steps)-1]

	dataDir := t.TempDir()
	benchCreateExtensions(t, dataDir, firstCaller, maxCalls)
	benchCreateExtensions(t, dataDir, firstCallee, maxCalls)
	// Two legs per call, RTP and RTCP each: far more ports than the default
	// block of the test helpers.
	srv := startServer(t, dataDir, "--log-level", "warn", "--rtp-ports", "20000-29999")

	dir := t.TempDir()
	if err := benchWritePCMU(filepath.Join(dir, "pcmu.raw"), fileFrames); err != nil {
		t.Fatal(err)
	}
	callerPort, calleePort := freePort(t), freePort(t)
	benchRegisterAll(t, srv, dir, firstCallee, maxCalls, calleePort)
	benchRegisterAll(t, srv, dir, firstCaller, maxCalls, callerPort)

	var lines []string
	for i := range maxCalls {
		caller, callee := strconv.Itoa(firstCaller+i), strconv.Itoa(firstCallee+i)
		lines = append(lines, caller+";"+callee+";"+sippTestSecret(caller))
	}
	calls := filepath.Join(dir, "calls.csv")
	benchWriteCSV(t, calls, lines)

	rtp := benchStartReceiver(t)
	total := 0
	for _, n := range steps {
		total += n
	}
	callees := sippStart(t, sippRun{
		Name:           "callees",
		Scenario:       "uas_answer.xml",
		Port:           calleePort,
		Service:        "callee",
		Calls:          total,
		Timeout:        5 * time.Minute,
		NoMessageTrace: true,
		Dir:            dir,
		Keys:           map[string]string{"answer_port": strconv.Itoa(rtp.port())},
	})
	sippWaitBound(t, calleePort, false, 5*time.Second)

	type row struct {
		calls, ok, failed int
		rtp               benchRTPResult
		cpu, elapsed      time.Duration
	}
	var rows []row
	for _, n := range steps {
		rate := max(10, int(float64(n)/rampTime.Seconds()))
		statFile := filepath.Join(dir, fmt.Sprintf("calls-%d.csv", n))
		rtp.takeResult()
		cpu0 := benchServerCPU(t, srv)
		res := sippExec(t, sippRun{
			Name:           fmt.Sprintf("callers-%d", n),
			Scenario:       "uac_rtp_call.xml",
			Remote:         srv.SIPAddr,
			Port:           callerPort,
			Calls:          n,
			Timeout:        hold + rampTime + 40*time.Second,
			NoMessageTrace: true,
			Dir:            dir, // rtp_stream reads pcmu.raw from the working directory
			Args: []string{"-inf", calls, "-r", strconv.Itoa(rate), "-rp", "1000", "-l", strconv.Itoa(n),
				"-d", strconv.Itoa(int(hold.Milliseconds())), "-trace_stat", "-stf", statFile, "-fd", "1"},
		})
		time.Sleep(300 * time.Millisecond) // the last relayed packets
		cpu := benchServerCPU(t, srv) - cpu0
		st, err := benchReadStats(statFile)
		if err != nil {
			t.Fatalf("%v\n%s", err, res.Report())
		}
		r := row{calls: n, ok: st.int("SuccessfulCall(C)"), failed: st.int("FailedCall(C)"),
			rtp: rtp.takeResult(), cpu: cpu, elapsed: res.Elapsed}
		rows = append(rows, r)
		if r.ok == 0 || r.rtp.streams == 0 {
			select {
			case <-callees.done:
				t.Logf("the callees' SIPp has exited:\n%s", callees.res.Report())
			default:
			}
			t.Fatalf("%d calls: %d succeeded, %d RTP streams reached the callees\n%s",
				n, r.ok, r.rtp.streams, res.Report())
		}
		if r.failed > 0 {
			t.Logf("%d of %d calls failed; SIPp errors:\n%s", r.failed, n, sippClip(res.Errors, 4<<10))
		}
		// Past collapse, bigger steps only take longer.
		if r.failed > n/5 || r.rtp.lossPercent() > 5 {
			break
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\nSimultaneous calls between extensions, G.711 RTP relayed both ways, %v each, UDP, %d CPUs\n",
		hold, runtime.NumCPU())
	fmt.Fprintf(&b, "%6s %5s %7s %8s %10s %9s %8s %11s %12s %11s\n",
		"calls", "ok", "failed", "streams", "frames", "lost", "loss %", "server CPU", "CPU ms/call", "core/call")
	held := 0
	for _, r := range rows {
		perCall := float64(r.cpu.Milliseconds()) / float64(max(r.ok, 1))
		fmt.Fprintf(&b, "%6d %5d %7d %8d %10d %9d %8.3f %10.0f%% %12.0f %10.2f%%\n",
			r.calls, r.ok, r.failed, r.rtp.streams, r.rtp.expected, r.rtp.expected-r.rtp.received,
			r.rtp.lossPercent(), 100*r.cpu.Seconds()/r.elapsed.Seconds(), perCall,
			100*perCall/float64(hold.Milliseconds()))
		if r.failed == 0 && r.rtp.streams == r.calls && r.rtp.lossPercent() <= 0.1 {
			held = r.calls
		}
		if r.rtp.unmarked > 0 || r.rtp.dups > 0 {
			fmt.Fprintf(&b, "       (%d packets without a frame index, %d duplicates)\n", r.rtp.unmarked, r.rtp.dups)
		}
	}
	fmt.Fprintf(&b, "Largest step with every call up, every stream received and loss <= 0.1%%: %d simultaneous calls.\n", held)
	fmt.Fprintf(&b, "(server CPU: share of one core over the step, set-up and tear-down included; core/call: CPU per call over its %v.)\n", hold)
	fmt.Print(b.String())
}
