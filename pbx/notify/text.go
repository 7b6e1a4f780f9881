package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// oneLine keeps a caller-supplied string (a SIP display name) on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// caller is "+31205550123 Jan", or the number, or "an unknown caller".
func caller(m store.NotifyMessageInfo) string {
	if c := oneLine(m.CallerNumber + " " + m.CallerName); c != "" {
		return c
	}
	return "an unknown caller"
}

// boxName is "Sales (600)", or just the number.
func boxName(m store.NotifyMessageInfo) string {
	if name := oneLine(m.BoxName); name != "" && name != m.Box {
		return name + " (" + m.Box + ")"
	}
	return m.Box
}

// duration writes seconds as m:ss (h:mm:ss from an hour).
func duration(seconds float64) string {
	s := int(seconds + 0.5)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// headline is the event in a few words, e.g. "New voicemail from +3120555
// Jan in Sales (600)".
func headline(p store.NotifyPayload) string {
	what := fmt.Sprintf("voicemail from %s in %s", caller(p.Message), boxName(p.Message))
	switch p.Event {
	case store.NotifyAssigned:
		return "Assigned to you: " + what
	case store.NotifyOverdue:
		return fmt.Sprintf("Still open after %d minutes: %s", p.OpenLimitMinutes, what)
	}
	return "New " + what
}

// emailText is the subject and plain-text body of a notification mail.
func emailText(p store.NotifyPayload, loc *time.Location) (subject, body string) {
	m := p.Message
	var b strings.Builder
	b.WriteString(headline(p) + ".\n\n")
	fmt.Fprintf(&b, "Caller:    %s\n", caller(m))
	fmt.Fprintf(&b, "Inbox:     %s\n", boxName(m))
	fmt.Fprintf(&b, "Time:      %s\n", m.Time.In(loc).Format("Monday 2 January 2006 15:04:05 MST"))
	fmt.Fprintf(&b, "Duration:  %s\n", duration(m.Duration))
	if p.Assignee != "" {
		fmt.Fprintf(&b, "Assigned:  %s\n", oneLine(p.Assignee))
	} else if p.Event == store.NotifyOverdue {
		b.WriteString("Assigned:  nobody yet\n")
	}
	if t := strings.TrimSpace(m.Transcript); t != "" {
		b.WriteString("\nTranscript:\n" + t + "\n")
	}
	if m.URL != "" {
		fmt.Fprintf(&b, "\nOpen it: %s\n", m.URL)
	} else {
		b.WriteString("\nOpen it in the Frontdesk inbox, or listen on your phone (*56).\n")
	}
	b.WriteString("\n-- \nFrontdesk notifications: change them under Settings in the inbox.\n")
	return headline(p), b.String()
}

// slackEscape escapes the three characters Slack's mrkdwn treats as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackText is the message posted to a Slack incoming webhook.
func slackText(p store.NotifyPayload, loc *time.Location) string {
	m := p.Message
	var b strings.Builder
	b.WriteString("*" + slackEscape(headline(p)) + "*")
	fmt.Fprintf(&b, " (%s, %s)", duration(m.Duration), m.Time.In(loc).Format("Mon 2 Jan 15:04"))
	if p.Assignee != "" && p.Event != store.NotifyAssigned {
		b.WriteString(", assigned to " + slackEscape(oneLine(p.Assignee)))
	}
	if t := strings.TrimSpace(m.Transcript); t != "" {
		if r := []rune(t); len(r) > 1500 {
			t = string(r[:1500]) + "..."
		}
		b.WriteString("\n> " + slackEscape(strings.Join(strings.Fields(t), " ")))
	}
	if m.URL != "" {
		b.WriteString("\n<" + m.URL + "|Open it>")
	}
	return b.String()
}
