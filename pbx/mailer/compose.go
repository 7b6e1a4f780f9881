package mailer

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// notice is what one notification says.
type notice struct {
	msg  store.Message
	box  store.Box
	to   string
	loc  *time.Location
	link string // web link to the message, when there is no attachment
	// audio is the WAV to attach; nil sends the notice alone.
	audio []byte
	// audioMissing says the recording's file could not be found.
	audioMissing bool
	// transcript is the message's transcript, when there is one.
	transcript string
	// forwarded: someone forwarded it from the inbox.
	forwarded bool
}

// oneLine keeps a caller-supplied string (a SIP display name) on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// formatDuration writes seconds as m:ss (h:mm:ss from an hour).
func formatDuration(seconds float64) string {
	s := int(seconds + 0.5)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// caller is "101 Alice", or "101", or "an unknown caller".
func (n notice) caller() string {
	c := strings.TrimSpace(oneLine(n.msg.CallerNumber + " " + n.msg.CallerName))
	if c == "" {
		return "an unknown caller"
	}
	return c
}

func (n notice) boxName() string {
	if name := oneLine(n.box.Name); name != "" && name != n.box.Number {
		return name + " " + n.box.Number
	}
	return n.box.Number
}

// subject is like "Voicemail from 101 Alice (0:23) to Sales 600".
func (n notice) subject() string {
	prefix := ""
	if n.forwarded {
		prefix = "Fwd: "
	}
	return fmt.Sprintf("%sVoicemail from %s (%s) to %s", prefix, n.caller(), formatDuration(n.msg.Duration), n.boxName())
}

// attachmentName is the attached file's name, e.g. voicemail-600-12.wav.
func (n notice) attachmentName() string {
	return fmt.Sprintf("voicemail-%s-%d.wav", safeName(n.box.Number), n.msg.ID)
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func (n notice) body() string {
	var b strings.Builder
	if n.forwarded {
		fmt.Fprintf(&b, "A voicemail from box %s, forwarded to you from the Frontdesk inbox.\n\n", n.boxName())
	} else {
		fmt.Fprintf(&b, "New voicemail in box %s.\n\n", n.boxName())
	}
	number, name := oneLine(n.msg.CallerNumber), oneLine(n.msg.CallerName)
	if number == "" {
		number = "unknown"
	}
	fmt.Fprintf(&b, "Caller:        %s\n", number)
	if name != "" {
		fmt.Fprintf(&b, "Caller name:   %s\n", name)
	}
	fmt.Fprintf(&b, "Called number: %s\n", oneLine(n.msg.CalledNumber))
	fmt.Fprintf(&b, "Box:           %s\n", n.boxName())
	fmt.Fprintf(&b, "Time:          %s\n", n.msg.StartedAt.In(n.loc).Format("Monday 2 January 2006 15:04:05 MST"))
	fmt.Fprintf(&b, "Duration:      %s\n\n", formatDuration(n.msg.Duration))
	if t := strings.TrimSpace(n.transcript); t != "" {
		fmt.Fprintf(&b, "Transcript:\n%s\n\n", t)
	}
	switch {
	case n.audio != nil:
		fmt.Fprintf(&b, "The recording is attached (%s).\n", n.attachmentName())
	case n.audioMissing:
		b.WriteString("The recording's audio file is missing on the server.\n")
	case n.link != "":
		fmt.Fprintf(&b, "Listen to it at %s\n", n.link)
	default:
		b.WriteString("Listen to it on your phone (*56) or in the web interface.\n")
	}
	b.WriteString("\n-- \nFrontdesk voicemail\n")
	return b.String()
}

// header is a mail header kept in the order it is written.
type header [][2]string

func (h *header) add(k, v string) { *h = append(*h, [2]string{k, v}) }

func (h header) write(b *bytes.Buffer) {
	for _, kv := range h {
		b.WriteString(kv[0] + ": " + kv[1] + "\r\n")
	}
	b.WriteString("\r\n")
}

// baseHeader is the header every mail starts with.
func baseHeader(from *mail.Address, to, subject string, now time.Time) header {
	var h header
	h.add("From", from.String())
	h.add("To", (&mail.Address{Address: to}).String())
	h.add("Subject", mime.QEncoding.Encode("utf-8", subject))
	h.add("Date", now.Format(time.RFC1123Z))
	h.add("Message-ID", messageID(from.Address, now))
	h.add("MIME-Version", "1.0")
	// RFC 3834: an automatic mail, no vacation replies please.
	h.add("Auto-Submitted", "auto-generated")
	return h
}

func messageID(from string, now time.Time) string {
	domain := "frontdesk.invalid"
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		domain = d
	}
	r := make([]byte, 8)
	rand.Read(r)
	return "<" + strconv.FormatInt(now.UnixNano(), 36) + "." + hex.EncodeToString(r) + "@" + domain + ">"
}

// writeText writes s as quoted-printable UTF-8 (CRLF line ends).
func writeText(b *bytes.Buffer, s string) {
	w := quotedprintable.NewWriter(b)
	w.Write([]byte(s))
	w.Close()
}

// writeBase64 writes data as base64 in lines of 76 characters.
func writeBase64(b *bytes.Buffer, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
}

// compose builds a whole mail: a text notice, or multipart/mixed with the
// text and the WAV.
func compose(from *mail.Address, to, subject, text string, now time.Time, attachName string, audio []byte) []byte {
	var b bytes.Buffer
	h := baseHeader(from, to, subject, now)
	if audio == nil {
		h.add("Content-Type", `text/plain; charset="utf-8"`)
		h.add("Content-Transfer-Encoding", "quoted-printable")
		h.write(&b)
		writeText(&b, text)
		return b.Bytes()
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h.add("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()}))
	h.write(&b)
	b.WriteString("This is a MIME message: a text notice with the recording attached.\r\n")

	var part bytes.Buffer
	writeText(&part, text)
	pw, _ := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {`text/plain; charset="utf-8"`},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	pw.Write(part.Bytes())

	part.Reset()
	writeBase64(&part, audio)
	pw, _ = mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {mime.FormatMediaType("audio/wav", map[string]string{"name": attachName})},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": attachName})},
	})
	pw.Write(part.Bytes())
	mw.Close()
	b.Write(body.Bytes())
	return b.Bytes()
}

// build makes the notification mail.
func (n notice) build(from *mail.Address, now time.Time) []byte {
	return compose(from, n.to, n.subject(), n.body(), now, n.attachmentName(), n.audio)
}
