package pbx

import (
	"fmt"
	"regexp"
	"strings"
)

// Destination kinds, written the same way everywhere: "ext:101", "vm:600".
const (
	DestExtension = "ext"
	DestVoicemail = "vm"
	DestGroup     = "group"
	DestQueue     = "queue"
	DestAttendant = "attendant"
)

// Destination is where a call can be sent.
type Destination struct {
	Kind, Number string
}

func (d Destination) String() string { return d.Kind + ":" + d.Number }

var destNumber = regexp.MustCompile(`^[0-9]{2,10}$`)

// ParseDestination reads "kind:number". Kinds that later routing adds are
// recognised so stored settings stay valid.
func ParseDestination(s string) (Destination, error) {
	kind, number, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || !destNumber.MatchString(number) {
		return Destination{}, fmt.Errorf("destination %q: want kind:number, e.g. vm:600 or ext:101", s)
	}
	switch kind {
	case DestExtension, DestVoicemail, DestGroup, DestQueue, DestAttendant:
		return Destination{Kind: kind, Number: number}, nil
	}
	return Destination{}, fmt.Errorf("destination %q: unknown kind %q (ext, vm, group, queue, attendant)", s, kind)
}
