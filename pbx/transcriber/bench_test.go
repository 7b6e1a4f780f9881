//go:build bench && whisper

package transcriber

// The transcription benchmark, in the Debian sid root where libwhisper and
// Debian's own whisper-cli (whisper.cpp-tools) are installed: `make
// bench-whisper` (also the last part of `make bench`) runs
//
//	go test -tags 'bench whisper' -run TestBenchTranscription -v -count=1 ./pbx/transcriber
//
// through packaging/sidroot.sh. Like the server benchmarks it prints figures
// and asserts nothing about speed: it fails only if the harness cannot run.
//
// The model is FRONTDESK_TEST_MODEL when set (a real one, e.g.
// ggml-base.en.bin), else the tiny random-weight model from ggmlgen. With the
// tiny model the text means nothing, and a random model makes whisper fall
// back to higher temperatures on every window, so the decoding share of the
// time is larger than with a real model; the comparison with whisper-cli
// stays like for like, since both sides run the same library, model, audio
// and decoding parameters.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/media/whisper"
	"github.com/frontdesk-pbx/frontdesk/media/whisper/ggmlgen"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// benchSpeechText is the caller's message, spoken by espeak-ng and looped to
// the length of a message (the same text as the deposit benchmark's).
const benchSpeechText = "Hello, this is a message for the sales team. I am calling about the order " +
	"we placed last week, number four five two seven. The delivery has not arrived yet, and we " +
	"need it before Friday. Could someone please call me back this afternoon? You can reach me " +
	"at my office, or on my mobile phone. Thank you very much, and have a good day."

const (
	benchRuns     = 3    // timed runs of each measurement; the median is shown
	benchLanguage = "en" // the box's transcription language, on both sides
)

// benchCLIArgs are whisper-cli's options that make it decode as
// engine_cgo.go does. The engine takes whisper_full_default_params(GREEDY)
// and whisper_context_default_params() (libwhisper 1.9.5: greedy, best of 5
// when falling back, temperature 0 then +0.2 steps, no_context, timestamps
// on, flash attention on) and sets threads, language, no translation, no
// single segment and no printing. whisper-cli starts from the same
// defaults but searches with 5 beams unless told -bs 1; the others are said
// explicitly so that a change of its defaults shows up here. -np drops its
// log; the segments still go to stdout, where they are read to check that
// both sides heard the same thing.
var benchCLIArgs = []string{"-bs", "1", "-bo", "5", "-fa", "-np"}

// benchMedian is the median of durations.
func benchMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchModelPath returns the model to measure and says which it is.
func benchModelPath(t *testing.T) (string, string) {
	t.Helper()
	if p := os.Getenv("FRONTDESK_TEST_MODEL"); p != "" {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatalf("FRONTDESK_TEST_MODEL: %v", err)
		}
		return p, fmt.Sprintf("%s (FRONTDESK_TEST_MODEL, %.0f MB)", filepath.Base(p), float64(info.Size())/1e6)
	}
	p := filepath.Join(t.TempDir(), "ggml-tiny-random.bin")
	if err := ggmlgen.WriteTinyModelFile(p, 1); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(p)
	return p, fmt.Sprintf("the tiny generated model (ggmlgen.Tiny, random weights, %.1f MB; meaningless text; "+
		"set FRONTDESK_TEST_MODEL=/path/to/ggml-base.en.bin for a real one)", float64(info.Size())/1e6)
}

// benchSpeech returns espeak-ng's speech of benchSpeechText at the telephone
// rate (8 kHz), once.
func benchSpeech(t *testing.T) []int16 {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "speech.wav")
	if out, err := exec.Command("espeak-ng", "-v", "en-us", "-s", "150", "-w", wav, benchSpeechText).CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	a, err := media.ReadWAVFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	s := media.Resample(a.Samples, a.Rate, media.SampleRate)
	if len(s) < media.SampleRate {
		t.Fatalf("espeak-ng made %d samples", len(s))
	}
	return s
}

// benchMessage loops speech to exactly seconds of 8 kHz audio.
func benchMessage(speech []int16, seconds int) media.Audio {
	n := seconds * media.SampleRate
	s := make([]int16, 0, n+len(speech))
	for len(s) < n {
		s = append(s, speech...)
	}
	return media.Audio{Rate: media.SampleRate, Samples: s[:n]}
}

// benchWrite16k writes prepared 16 kHz samples as a 16-bit WAV. Prepare
// makes them from 16-bit samples divided by 32768, so this is lossless:
// whisper-cli reads back exactly the floats our engine is given.
func benchWrite16k(t *testing.T, path string, samples []float32) {
	t.Helper()
	s := make([]int16, len(samples))
	for i, f := range samples {
		s[i] = int16(max(-32768, min(32767, f*32768)))
	}
	if err := media.WriteWAVFileAtomic(path, media.Audio{Rate: whisper.SampleRate, Samples: s}); err != nil {
		t.Fatal(err)
	}
}

// benchOurs is one run of our engine as the worker runs it for a message:
// load the model, Prepare the 8 kHz audio, Transcribe, and close.
type benchOurs struct {
	load, prepare, transcribe time.Duration
	text                      string
}

func benchRunOurs(t *testing.T, model string, threads int, a media.Audio) benchOurs {
	t.Helper()
	var r benchOurs
	start := time.Now()
	m, err := whisper.Load(model, whisper.Options{Threads: threads})
	if err != nil {
		t.Fatalf("loading %s: %v", model, err)
	}
	r.load = time.Since(start)
	start = time.Now()
	samples, _ := whisper.Prepare(a)
	r.prepare = time.Since(start)
	start = time.Now()
	res, err := m.Transcribe(context.Background(), samples, benchLanguage)
	r.transcribe = time.Since(start)
	if err != nil {
		t.Fatalf("transcribing: %v", err)
	}
	m.Close()
	r.text = res.Text()
	return r
}

// benchRunCLI runs whisper-cli once on a 16 kHz WAV and returns its wall
// time, from starting the process to its exit, and the text it printed.
func benchRunCLI(t *testing.T, cli, model, wav string, threads int) (time.Duration, string) {
	t.Helper()
	args := append([]string{"-m", model, "-f", wav, "-t", strconv.Itoa(threads), "-l", benchLanguage}, benchCLIArgs...)
	cmd := exec.Command(cli, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", cli, strings.Join(args, " "), err, stderr.String())
	}
	// Segments are printed as "[00:00:00.000 --> 00:00:05.000]   text".
	var words []string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if i := strings.Index(line, "]"); strings.HasPrefix(line, "[") && i > 0 {
			words = append(words, strings.Fields(line[i+1:])...)
		}
	}
	return d, strings.Join(words, " ")
}

// benchSameText compares two transcripts word by word.
func benchSameText(a, b string) bool {
	return slices.Equal(strings.Fields(a), strings.Fields(b))
}

func TestBenchTranscription(t *testing.T) {
	cli, err := exec.LookPath("whisper-cli")
	if err != nil {
		t.Fatal("no whisper-cli (Debian's whisper.cpp-tools): run this in the sid root, `make bench-whisper`")
	}
	model, modelDesc := benchModelPath(t)
	dir := t.TempDir()
	speech := benchSpeech(t)

	// The worker's default: every core but one, at least one; and two,
	// if that differs, to show how it scales.
	workerThreads := max(1, runtime.NumCPU()-1)
	threadCounts := []int{workerThreads}
	if workerThreads != 2 {
		threadCounts = append(threadCounts, 2)
	}
	lengths := []int{30, 120}

	// Warm-up, not timed: the model file in the page cache, ggml's CPU
	// plugins loaded in this process, whisper-cli's libraries cached.
	msgs := map[int]media.Audio{}
	wavs := map[int]string{}
	for _, secs := range lengths {
		msgs[secs] = benchMessage(speech, secs)
		samples, _ := whisper.Prepare(msgs[secs])
		wavs[secs] = filepath.Join(dir, fmt.Sprintf("message-%ds-16k.wav", secs))
		benchWrite16k(t, wavs[secs], samples)
	}
	// A 50 ms clip: whisper-cli starts, loads the model, reads the audio,
	// computes the spectrogram and stops (whisper_full skips input under
	// 100 ms). Its wall time is whisper-cli's fixed cost per run.
	clipSamples, _ := whisper.Prepare(msgs[30])
	clip := filepath.Join(dir, "clip-50ms-16k.wav")
	benchWrite16k(t, clip, clipSamples[:whisper.SampleRate/20])
	if m, err := whisper.Load(model, whisper.Options{Threads: workerThreads}); err != nil {
		t.Fatalf("loading %s: %v", model, err)
	} else {
		m.Close()
	}
	benchRunCLI(t, cli, model, clip, workerThreads)

	type row struct {
		secs, threads   int
		prepared        time.Duration // audio left after Prepare's trimming
		load, prepare   time.Duration // ours, medians
		run, oneShot    time.Duration // ours: prepare+transcribe; load+prepare+transcribe
		cliWall, cliFix time.Duration // theirs: whole process; the 50 ms clip
		sameText        string
	}
	var rows []row
	started := time.Now()
	for _, threads := range threadCounts {
		var fixed []time.Duration
		for range benchRuns {
			d, _ := benchRunCLI(t, cli, model, clip, threads)
			fixed = append(fixed, d)
		}
		for _, secs := range lengths {
			samples, _ := whisper.Prepare(msgs[secs])
			r := row{secs: secs, threads: threads, cliFix: benchMedian(fixed),
				prepared: time.Duration(len(samples)) * time.Second / whisper.SampleRate}
			var loads, prepares, runs, oneShots, walls []time.Duration
			same, differ := 0, 0
			for i := range benchRuns {
				var o benchOurs
				var wall time.Duration
				var cliText string
				// Alternate who goes first, so that neither always
				// runs on a machine the other has just warmed.
				if i%2 == 0 {
					o = benchRunOurs(t, model, threads, msgs[secs])
					wall, cliText = benchRunCLI(t, cli, model, wavs[secs], threads)
				} else {
					wall, cliText = benchRunCLI(t, cli, model, wavs[secs], threads)
					o = benchRunOurs(t, model, threads, msgs[secs])
				}
				loads = append(loads, o.load)
				prepares = append(prepares, o.prepare)
				runs = append(runs, o.prepare+o.transcribe)
				oneShots = append(oneShots, o.load+o.prepare+o.transcribe)
				walls = append(walls, wall)
				if benchSameText(o.text, cliText) {
					same++
				} else {
					differ++
					if differ == 1 {
						t.Logf("%d s, %d threads: the transcripts differ\n  ours:   %.300s\n  theirs: %.300s", secs, threads, o.text, cliText)
					}
				}
			}
			r.load, r.prepare = benchMedian(loads), benchMedian(prepares)
			r.run, r.oneShot, r.cliWall = benchMedian(runs), benchMedian(oneShots), benchMedian(walls)
			r.sameText = fmt.Sprintf("%d/%d", same, benchRuns)
			rows = append(rows, r)
			t.Logf("%d s, %d threads: ours %v (load %v), whisper-cli %v (fixed %v)", secs, threads,
				r.run.Round(time.Millisecond), r.load.Round(time.Millisecond),
				r.cliWall.Round(time.Millisecond), r.cliFix.Round(time.Millisecond))
		}
	}
	compared := time.Since(started)

	latencies, first, stored := benchHangupToStored(t, model, msgs[30])

	var b strings.Builder
	fmt.Fprintf(&b, "\nTranscription speed: %s, %d CPUs\n", whisper.EngineName(), runtime.NumCPU())
	fmt.Fprintf(&b, "Model: %s\n", modelDesc)
	fmt.Fprintf(&b, "Audio: espeak-ng speech at 8 kHz looped to the message length; language %s. Median of %d runs each.\n",
		benchLanguage, benchRuns)
	fmt.Fprintf(&b, "Theirs: %s -m MODEL -f MESSAGE-16k.wav -t THREADS -l %s %s (Debian whisper.cpp-tools, same libwhisper), on the\n"+
		"16 kHz audio our Prepare made, written losslessly as 16-bit WAV.\n", cli, benchLanguage, strings.Join(benchCLIArgs, " "))
	fmt.Fprintf(&b, "\nTranscription, model loaded (fixed start-up cost left out on both sides):\n")
	fmt.Fprintf(&b, "%7s %7s %9s %9s %9s %9s %10s %11s %17s %9s\n",
		"audio s", "threads", "prepare s", "ours s", "theirs s", "RTF ours", "RTF theirs", "ours/theirs",
		"without prepare", "same text")
	for _, r := range rows {
		theirs := r.cliWall - r.cliFix
		fmt.Fprintf(&b, "%7d %7d %9.3f %9.3f %9.3f %9.4f %10.4f %11.3f %17.3f %9s\n",
			r.secs, r.threads, r.prepare.Seconds(), r.run.Seconds(), theirs.Seconds(),
			r.run.Seconds()/float64(r.secs), theirs.Seconds()/float64(r.secs),
			r.run.Seconds()/theirs.Seconds(), (r.run-r.prepare).Seconds()/theirs.Seconds(), r.sameText)
	}
	fmt.Fprintf(&b, "(ours: Prepare (8 kHz to 16 kHz, silence trimmed: %v and %v of audio kept) + Transcribe, in this process with\n"+
		"the model loaded, as the worker runs a job; theirs: whisper-cli's wall time on the message less its wall time on a\n"+
		"50 ms clip (process start, libraries, CPU plugins, model load, state, mel of the padding: whatever does not grow with\n"+
		"the audio). RTF is that time over the message length; goal: ours/theirs 1.05 or less. without prepare: ours/theirs\n"+
		"with Prepare's resampling left out, the engine alone. same text: runs whose transcripts are word for word the\n"+
		"same on both sides, i.e. the same decoding.)\n",
		rows[0].prepared.Round(time.Millisecond), rows[1].prepared.Round(time.Millisecond))
	fmt.Fprintf(&b, "\nOne-shot, nothing left out (load the model, transcribe one message, exit):\n")
	fmt.Fprintf(&b, "%7s %7s %11s %11s %13s %13s %11s\n",
		"audio s", "threads", "ours load s", "ours total s", "theirs fixed s", "theirs total s", "ours/theirs")
	for _, r := range rows {
		fmt.Fprintf(&b, "%7d %7d %11.3f %11.3f %13.3f %13.3f %11.3f\n",
			r.secs, r.threads, r.load.Seconds(), r.oneShot.Seconds(), r.cliFix.Seconds(), r.cliWall.Seconds(),
			r.oneShot.Seconds()/r.cliWall.Seconds())
	}
	fmt.Fprintf(&b, "(ours: whisper.Load + Prepare + Transcribe in this process, whose ggml CPU plugins are already loaded;\n"+
		"theirs: the whole whisper-cli process, which also starts, links its libraries and loads the plugins.)\n")
	fmt.Fprintf(&b, "\nHangup to transcript stored, 30 s message, empty queue, worker threads %d (its default):\n", workerThreads)
	fmt.Fprintf(&b, "  first message after start (loads the model): %.3f s\n", first.Seconds())
	fmt.Fprintf(&b, "  then, median of %d: %.3f s (runs: %s), of which transcribing %.3f s (the stored Seconds)\n",
		len(latencies), benchMedian(latencies).Seconds(), benchSeconds(latencies), benchMedian(stored).Seconds())
	fmt.Fprintf(&b, "(from AddMessage, as the deposit calls it once the WAV is on disk, and Wake, to the job's state done in the store,\n"+
		"polled every 5 ms; the worker runs at its low priority on an otherwise idle machine.)\n")
	fmt.Fprintf(&b, "Comparison took %v.\n", compared.Round(time.Second))
	fmt.Print(b.String())
}

func benchSeconds(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%.3f", d.Seconds()))
	}
	return strings.Join(s, ", ")
}

// benchHangupToStored runs a worker on a real store with the model set and
// times, for 30 s messages deposited into an empty queue, the time from
// AddMessage to the transcript stored. The first message also loads the
// model (as the first after a start does); the next benchRuns are timed.
func benchHangupToStored(t *testing.T, model string, msg media.Audio) (latencies []time.Duration, first time.Duration, stored []time.Duration) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared}); err != nil {
		t.Fatal(err)
	}
	lang := benchLanguage
	if err := st.UpdateBox(ctx, "600", store.BoxUpdate{TranscribeLang: &lang}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSetting(ctx, ModelSetting, model); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "messages"), 0o750); err != nil {
		t.Fatal(err)
	}
	w := New(st, dir, slog.New(slog.DiscardHandler), 0, whisper.Load, whisper.Available())
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()

	for i := range benchRuns + 1 {
		counts, err := st.JobCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts[store.JobQueued]+counts[store.JobRunning] != 0 {
			t.Fatalf("queue not empty before message %d: %v", i, counts)
		}
		name := fmt.Sprintf("bench-%d.wav", i)
		if err := media.WriteWAVFileAtomic(filepath.Join(dir, "messages", name), msg); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		id, err := st.AddMessage(ctx, store.Message{Box: "600", CallerNumber: "5551234", CallerName: "Bench",
			CalledNumber: "600", StartedAt: start.Add(-time.Duration(msg.Seconds() * float64(time.Second))),
			Duration: msg.Seconds(), Audio: name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Wake()
		for {
			j, err := st.JobOf(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if j.State == store.JobDone {
				break
			}
			if j.Error != "" || j.State == store.JobFailed {
				t.Fatalf("message %d: job %+v", id, j)
			}
			if time.Since(start) > 10*time.Minute {
				t.Fatalf("message %d not transcribed after 10 minutes: %+v", id, j)
			}
			time.Sleep(5 * time.Millisecond)
		}
		d := time.Since(start)
		tr, err := st.Transcript(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = d
			continue
		}
		latencies = append(latencies, d)
		stored = append(stored, time.Duration(tr.Seconds*float64(time.Second)))
	}
	return latencies, first, stored
}
