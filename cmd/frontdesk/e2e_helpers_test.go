package main

// End-to-end test helpers: they build the real frontdesk binary, run it as a
// subprocess on loopback, and drive it through its CLI. They also generate
// and analyse audio (tone WAVs, Goertzel detection) so that tests can check
// that media really flowed through the PBX.
//
// Everything here binds to 127.0.0.1 only; tests must never touch the real
// network.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// frontdeskBuild holds the result of building the server binary. The build
// is expensive, so it happens at most once per test process (guarded by
// once); TestMain removes dir afterwards.
var frontdeskBuild struct {
	once sync.Once
	dir  string // temporary directory holding the binary
	path string // path of the built binary
	err  error
}

// TestMain only exists to delete the binary built by frontdeskBinary once
// all tests are done (t.TempDir cannot be used: the binary outlives any one
// test).
func TestMain(m *testing.M) {
	code := m.Run()
	if frontdeskBuild.dir != "" {
		os.RemoveAll(frontdeskBuild.dir)
	}
	os.Exit(code)
}

// frontdeskBinary returns the path of a freshly built frontdesk binary,
// building it on first use. A build failure fails the calling test.
func frontdeskBinary(t testing.TB) string {
	t.Helper()
	frontdeskBuild.once.Do(func() {
		frontdeskBuild.path, frontdeskBuild.dir, frontdeskBuild.err = buildFrontdesk()
	})
	if frontdeskBuild.err != nil {
		t.Fatalf("building frontdesk: %v", frontdeskBuild.err)
	}
	return frontdeskBuild.path
}

// buildFrontdesk compiles ./cmd/frontdesk from the module root into a new
// temporary directory. CGO is disabled because the product ships as a
// static single binary and the test should exercise that same build; tests
// built with -tags whisper (e2eBuildTags) build the server with the same
// tags, with cgo, as the whisper binary is built.
func buildFrontdesk() (binPath, dir string, err error) {
	// `go test` puts $GOROOT/bin first in PATH, so "go" is the toolchain
	// that is running the tests.
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", "", fmt.Errorf("locating module root with 'go env GOMOD': %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", "", errors.New("not inside a Go module (go env GOMOD is empty)")
	}
	dir, err = os.MkdirTemp("", "frontdesk-e2e-bin-")
	if err != nil {
		return "", "", fmt.Errorf("creating build dir: %w", err)
	}
	binPath = filepath.Join(dir, "frontdesk")
	args, cgo := []string{"build", "-o", binPath}, "CGO_ENABLED=0"
	if e2eBuildTags != "" {
		args, cgo = append(args, "-tags", e2eBuildTags), "CGO_ENABLED=1"
	}
	cmd := exec.Command("go", append(args, "./cmd/frontdesk")...)
	cmd.Dir = filepath.Dir(gomod)
	cmd.Env = append(os.Environ(), cgo)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", dir, fmt.Errorf("go build -tags %q ./cmd/frontdesk: %w\n%s", e2eBuildTags, err, out)
	}
	return binPath, dir, nil
}

// freePort returns a port on 127.0.0.1 that is currently free for both UDP
// and TCP (SIP listens on both with the same number). There is an inherent
// race between closing the probe sockets and the real user binding the
// port, but the kernel rarely hands a just-released port out again at
// once. Use freePorts when several ports are needed at the same time.
func freePort(t testing.TB) int {
	t.Helper()
	return freePorts(t, 1)[0]
}

// freePorts returns n distinct ports on 127.0.0.1, each free for both UDP
// and TCP. All probe sockets stay open until every port is chosen, so the
// kernel cannot hand out the same port twice.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var probes []io.Closer
	defer func() {
		for _, c := range probes {
			c.Close()
		}
	}()
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts == 100*n {
			t.Fatalf("freePorts: could not find %d ports free for both UDP and TCP on 127.0.0.1", n)
		}
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("freePorts: listening on UDP: %v", err)
		}
		probes = append(probes, udp)
		port := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // TCP side of this port is taken; try another
		}
		probes = append(probes, tcp)
		ports = append(ports, port)
	}
	return ports
}

// Port ranges used for RTP. They are below the Linux ephemeral range
// (32768-60999) so that freePort and other sockets never collide with RTP,
// and the server's and the phones' ranges are disjoint so a phone cannot
// grab a port the server wants.
const (
	serverRTPLow   = 20000 // server RTP blocks are allocated in [20000, 30000)
	serverRTPHigh  = 30000
	serverRTPBlock = 200
	phoneRTPRange  = "10000-19999" // baresip rtp_ports
)

// frontdeskServer is a running `frontdesk serve` subprocess.
type frontdeskServer struct {
	SIPAddr  string // "127.0.0.1:PORT", UDP and TCP
	SIPPort  int
	HTTPURL  string // "http://127.0.0.1:HPORT"
	DataDir  string
	LogPath  string // combined stdout+stderr of the server
	RTPPorts string // "LO-HI" as passed to --rtp-ports

	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited
	waitErr  error         // valid after exited is closed
	stopOnce sync.Once
}

// startServer runs `frontdesk serve` on loopback with fresh ports, using
// dataDir (a new t.TempDir() if empty), and waits until /healthz answers
// 200. extraArgs are appended to the serve command line. The server is
// stopped by t.Cleanup; its log is printed there if the test failed.
func startServer(t testing.TB, dataDir string, extraArgs ...string) *frontdeskServer {
	t.Helper()
	bin := frontdeskBinary(t)
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	ports := freePorts(t, 2)
	sipPort, httpPort := ports[0], ports[1]
	rtpLo := serverRTPLow + rand.IntN((serverRTPHigh-serverRTPLow)/serverRTPBlock)*serverRTPBlock
	s := &frontdeskServer{
		SIPAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(sipPort)),
		SIPPort:  sipPort,
		HTTPURL:  "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		DataDir:  dataDir,
		LogPath:  filepath.Join(t.TempDir(), "frontdesk.log"),
		RTPPorts: fmt.Sprintf("%d-%d", rtpLo, rtpLo+serverRTPBlock-1),
		exited:   make(chan struct{}),
	}
	logFile, err := os.Create(s.LogPath)
	if err != nil {
		t.Fatalf("creating server log: %v", err)
	}
	args := append([]string{"serve",
		"--data", dataDir,
		"--log-level", "debug", // the log is only shown when a test fails
		"--sip-listen", s.SIPAddr,
		"--http-listen", strings.TrimPrefix(s.HTTPURL, "http://"),
		"--rtp-ports", s.RTPPorts,
	}, extraArgs...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout = logFile
	s.cmd.Stderr = logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting %s %s: %v", bin, strings.Join(args, " "), err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("frontdesk %s\n--- server log (%s) ---\n%s--- end of server log ---",
				strings.Join(args, " "), s.LogPath, s.Log())
		}
	})
	if err := s.waitHealthy(15 * time.Second); err != nil {
		t.Fatalf("frontdesk serve did not become healthy: %v", err)
	}
	return s
}

// waitHealthy polls GET /healthz until it returns 200, the process exits,
// or the timeout expires.
func (s *frontdeskServer) waitHealthy(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("server exited before becoming healthy: %v", s.waitErr)
		default:
		}
		resp, err := client.Get(s.HTTPURL + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /healthz: %s", resp.Status)
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %v; last error: %v", timeout, lastErr)
}

// Stop sends SIGTERM, waits up to 5 s for a graceful exit, then kills the
// process. It is idempotent and also registered as a cleanup.
func (s *frontdeskServer) Stop() {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// Log returns the server output captured so far.
func (s *frontdeskServer) Log() string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return fmt.Sprintf("(reading server log: %v)", err)
	}
	return string(b)
}

// runCLI runs `frontdesk --data dataDir args...` and returns its stdout. A
// non-zero exit fails the test, showing stderr.
func runCLI(t testing.TB, dataDir string, args ...string) string {
	t.Helper()
	stdout, stderr, err := tryCLI(t, dataDir, args...)
	if err != nil {
		t.Fatalf("frontdesk --data %s %s: %v\nstderr:\n%s\nstdout:\n%s",
			dataDir, strings.Join(args, " "), err, stderr, stdout)
	}
	return stdout
}

// tryCLI is runCLI for commands that are expected to fail: it returns the
// outputs and the exit error instead of failing the test.
func tryCLI(t testing.TB, dataDir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin := frontdeskBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--data", dataDir}, args...)...)
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout = &outBuf
	cmd.Stderr = &errBuf
	err = cmd.Run()
	return outBuf.String(), errBuf.String(), err
}

// ---------------------------------------------------------------------------
// Audio: tone generation, WAV I/O and tone detection.

// writeToneWAV writes a mono 16-bit PCM WAV file holding a sine wave of hz
// at sampleRate for dur, at about -10 dBFS (loud enough to survive G.711,
// far from clipping).
func writeToneWAV(path string, hz float64, sampleRate int, dur time.Duration) error {
	return writeWAV(path, sampleRate, sineSamples(hz, sampleRate, dur, 0.3))
}

// sineSamples returns dur of a sine wave of hz at sampleRate with the given
// amplitude (fraction of full scale).
func sineSamples(hz float64, sampleRate int, dur time.Duration, amplitude float64) []int16 {
	n := int(dur.Seconds() * float64(sampleRate))
	samples := make([]int16, n)
	for i := range samples {
		samples[i] = int16(amplitude * math.MaxInt16 * math.Sin(2*math.Pi*hz*float64(i)/float64(sampleRate)))
	}
	return samples
}

// writeWAV writes mono 16-bit PCM samples as a canonical 44-byte-header WAV.
func writeWAV(path string, sampleRate int, samples []int16) error {
	var buf bytes.Buffer
	dataLen := uint32(2 * len(samples))
	buf.WriteString("RIFF")
	binary.Write(&buf, binary.LittleEndian, 36+dataLen)
	buf.WriteString("WAVEfmt ")
	binary.Write(&buf, binary.LittleEndian, struct {
		ChunkSize     uint32
		Format        uint16 // 1 = PCM
		Channels      uint16
		SampleRate    uint32
		ByteRate      uint32
		BlockAlign    uint16
		BitsPerSample uint16
	}{16, 1, 1, uint32(sampleRate), uint32(sampleRate * 2), 2, 16})
	buf.WriteString("data")
	binary.Write(&buf, binary.LittleEndian, dataLen)
	binary.Write(&buf, binary.LittleEndian, samples)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing WAV: %w", err)
	}
	return nil
}

// wavAudio is decoded 16-bit PCM audio; multi-channel input keeps only the
// first channel.
type wavAudio struct {
	SampleRate int
	Samples    []int16
}

// Duration is the length of the audio.
func (w wavAudio) Duration() time.Duration {
	if w.SampleRate == 0 {
		return 0
	}
	return time.Duration(len(w.Samples)) * time.Second / time.Duration(w.SampleRate)
}

// readWAV parses a 16-bit PCM WAV file. It walks the chunk list (writers
// such as libsndfile may add chunks besides fmt/data) and tolerates a data
// chunk whose size field overstates the file (a writer that did not
// finalise the header) by reading to the end of the file.
func readWAV(path string) (wavAudio, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return wavAudio{}, fmt.Errorf("reading WAV: %w", err)
	}
	if len(raw) < 12 || string(raw[0:4]) != "RIFF" || string(raw[8:12]) != "WAVE" {
		return wavAudio{}, fmt.Errorf("%s: not a RIFF/WAVE file (%d bytes)", path, len(raw))
	}
	var (
		channels, bits uint16
		rate           uint32
		haveFmt        bool
	)
	for off := 12; off+8 <= len(raw); {
		id := string(raw[off : off+4])
		size := int(binary.LittleEndian.Uint32(raw[off+4 : off+8]))
		body := raw[off+8:]
		switch id {
		case "fmt ":
			if size < 16 || len(body) < 16 {
				return wavAudio{}, fmt.Errorf("%s: short fmt chunk", path)
			}
			format := binary.LittleEndian.Uint16(body[0:2])
			channels = binary.LittleEndian.Uint16(body[2:4])
			rate = binary.LittleEndian.Uint32(body[4:8])
			bits = binary.LittleEndian.Uint16(body[14:16])
			// 0xFFFE is WAVE_FORMAT_EXTENSIBLE, which libsndfile may use.
			if (format != 1 && format != 0xFFFE) || bits != 16 || channels == 0 {
				return wavAudio{}, fmt.Errorf("%s: unsupported format %#x, %d bits, %d channels",
					path, format, bits, channels)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return wavAudio{}, fmt.Errorf("%s: data chunk before fmt chunk", path)
			}
			if size > len(body) || size == 0 {
				size = len(body)
			}
			frame := 2 * int(channels)
			n := size / frame
			samples := make([]int16, n)
			for i := range n {
				samples[i] = int16(binary.LittleEndian.Uint16(body[i*frame:]))
			}
			return wavAudio{SampleRate: int(rate), Samples: samples}, nil
		}
		off += 8 + size + size%2 // chunks are padded to even sizes
	}
	return wavAudio{}, fmt.Errorf("%s: no data chunk", path)
}

// toneAnalysis summarises which of a set of candidate tones a recording
// contains.
type toneAnalysis struct {
	Total  time.Duration // length of the recording
	Active time.Duration // length of the non-silent part
	// Share maps each candidate frequency to the fraction of the active
	// audio's energy found at that frequency: ~1 for a clean tone at that
	// frequency, ~0 if it is absent.
	Share map[float64]float64
}

// Dominant returns the candidate frequency with the largest share.
func (a toneAnalysis) Dominant() float64 {
	best, bestShare := 0.0, -1.0
	for f, s := range a.Share {
		if s > bestShare {
			best, bestShare = f, s
		}
	}
	return best
}

func (a toneAnalysis) String() string {
	freqs := slices.Sorted(maps.Keys(a.Share))
	var parts []string
	for _, f := range freqs {
		parts = append(parts, fmt.Sprintf("%.0f Hz: %.3f", f, a.Share[f]))
	}
	return fmt.Sprintf("total %v, active %v, energy share {%s}", a.Total, a.Active, strings.Join(parts, ", "))
}

// analyzeTones splits the audio into 50 ms frames, drops silent frames
// (RMS below ~-50 dBFS: leading silence before media starts, gaps), and runs
// a Goertzel filter for each candidate frequency over the remaining frames.
// 50 ms frames give 20 Hz resolution, plenty to separate tones hundreds of
// Hz apart, while keeping the silence detection fine-grained.
func analyzeTones(w wavAudio, freqs []float64) toneAnalysis {
	res := toneAnalysis{Total: w.Duration(), Share: make(map[float64]float64)}
	if w.SampleRate == 0 {
		return res
	}
	frameLen := w.SampleRate / 20
	const silenceRMS = 100.0 // of 32767, about -50 dBFS
	var activeFrames int
	var energy float64
	power := make([]float64, len(freqs))
	frame := make([]float64, frameLen)
	for start := 0; start+frameLen <= len(w.Samples); start += frameLen {
		var e float64
		for i := range frame {
			frame[i] = float64(w.Samples[start+i])
			e += frame[i] * frame[i]
		}
		if math.Sqrt(e/float64(frameLen)) < silenceRMS {
			continue
		}
		activeFrames++
		energy += e
		for k, f := range freqs {
			power[k] += goertzelPower(frame, f, float64(w.SampleRate))
		}
	}
	res.Active = time.Duration(activeFrames*frameLen) * time.Second / time.Duration(w.SampleRate)
	for k, f := range freqs {
		if energy > 0 {
			// For x = A sin(wt) over N samples, |X(f)|^2 = (A N / 2)^2 and
			// the frame energy is A^2 N / 2, so 2|X|^2/N over the energy is
			// 1 for a pure tone at f.
			res.Share[f] = 2 * power[k] / float64(frameLen) / energy
		}
	}
	return res
}

// goertzelPower returns |X(f)|^2, the squared magnitude of the DFT of x at
// frequency f (which need not fall on a DFT bin).
func goertzelPower(x []float64, f, sampleRate float64) float64 {
	w := 2 * math.Pi * f / sampleRate
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := v + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - coeff*s1*s2
}

// assertHeardTone checks that the WAV at path contains at least minActive of
// non-silent audio, dominated by wantHz, with little energy at each of
// absentHz (typically the listener's own tone: hearing it would mean echo or
// a media loop in the PBX).
func assertHeardTone(t testing.TB, who, path string, wantHz float64, absentHz []float64, minActive time.Duration) {
	t.Helper()
	w, err := readWAV(path)
	if err != nil {
		t.Errorf("%s: %v", who, err)
		return
	}
	a := analyzeTones(w, append([]float64{wantHz}, absentHz...))
	t.Logf("%s heard (%s): %v", who, filepath.Base(path), a)
	if a.Active < minActive {
		t.Errorf("%s: only %v of non-silent audio received (of %v recorded), want >= %v",
			who, a.Active, a.Total, minActive)
	}
	// Thresholds are loose enough for G.711 quantisation, jitter-buffer
	// glitches and packet-loss concealment, yet a wrong or missing tone
	// cannot pass.
	if s := a.Share[wantHz]; s < 0.5 {
		t.Errorf("%s: expected the %.0f Hz tone, but it holds only %.1f%% of the received energy (%v)",
			who, wantHz, 100*s, a)
	}
	for _, f := range absentHz {
		if s := a.Share[f]; s > 0.05 {
			t.Errorf("%s: unexpected %.0f Hz tone holds %.1f%% of the received energy (%v)",
				who, f, 100*s, a)
		}
	}
}

// TestToneAnalysis checks the audio checker itself on synthetic input, so
// that a broken analysis cannot make the call tests pass vacuously: a tone
// must be found at its own frequency only, leading silence must not count
// as audio, and a mix must show both tones.
func TestToneAnalysis(t *testing.T) {
	const rate = 8000
	freqs := []float64{440, 1000}
	silence := make([]int16, rate/2) // 0.5 s
	mix := sineSamples(440, rate, 2*time.Second, 0.2)
	for i, v := range sineSamples(1000, rate, 2*time.Second, 0.2) {
		mix[i] += v
	}
	tests := []struct {
		name       string
		samples    []int16
		wantActive time.Duration
		wantShare  map[float64][2]float64 // frequency -> [min, max] share
	}{
		{
			name:       "440 Hz after silence",
			samples:    append(append([]int16{}, silence...), sineSamples(440, rate, 2*time.Second, 0.3)...),
			wantActive: 2 * time.Second,
			wantShare:  map[float64][2]float64{440: {0.95, 1.05}, 1000: {0, 0.01}},
		},
		{
			name:       "1000 Hz",
			samples:    sineSamples(1000, rate, 2*time.Second, 0.3),
			wantActive: 2 * time.Second,
			wantShare:  map[float64][2]float64{440: {0, 0.01}, 1000: {0.95, 1.05}},
		},
		{
			name:       "both tones",
			samples:    mix,
			wantActive: 2 * time.Second,
			wantShare:  map[float64][2]float64{440: {0.4, 0.6}, 1000: {0.4, 0.6}},
		},
		{
			name:       "silence",
			samples:    silence,
			wantActive: 0,
			wantShare:  map[float64][2]float64{440: {0, 0}, 1000: {0, 0}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Round-trip through a file to cover writeWAV and readWAV too.
			path := filepath.Join(t.TempDir(), "x.wav")
			if err := writeWAV(path, rate, tc.samples); err != nil {
				t.Fatal(err)
			}
			w, err := readWAV(path)
			if err != nil {
				t.Fatal(err)
			}
			if w.SampleRate != rate || len(w.Samples) != len(tc.samples) {
				t.Fatalf("readWAV: got %d Hz, %d samples; want %d Hz, %d samples",
					w.SampleRate, len(w.Samples), rate, len(tc.samples))
			}
			a := analyzeTones(w, freqs)
			if d := a.Active - tc.wantActive; d < -50*time.Millisecond || d > 50*time.Millisecond {
				t.Errorf("active audio %v, want %v", a.Active, tc.wantActive)
			}
			for f, r := range tc.wantShare {
				if s := a.Share[f]; s < r[0] || s > r[1] {
					t.Errorf("share at %.0f Hz = %.3f, want in [%.2f, %.2f] (%v)", f, s, r[0], r[1], a)
				}
			}
		})
	}
}
