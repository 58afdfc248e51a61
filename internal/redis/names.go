package redis

import (
	"strconv"
	"strings"
	"sync"
)

// What a command needs besides pairing.
const (
	kindPlain     uint8 = iota
	kindContainer       // its second argument is a subcommand
	kindSelect          // SELECT: the connection's database, once answered
	kindSubscribe       // SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE: RESP2 pub/sub follows
	kindStream          // MONITOR, SYNC, PSYNC: a stream follows the reply
	kindReplyOff        // CLIENT REPLY: replies may stop
)

// maxName bounds a command name (and a subcommand) read from the bytes.
const maxName = 32

// opOther is the operation of a command Redis does not have.
const opOther = "_OTHER"

type command struct {
	op   string
	kind uint8
}

var (
	commands    = map[string]command{}
	subcommands = map[string]map[string]string{}
)

func init() {
	for _, n := range commandNames {
		commands[n] = command{op: n}
	}
	for container, subs := range subcommandNames {
		m := map[string]string{}
		for _, s := range subs {
			m[s] = container + " " + s
		}
		subcommands[container] = m
		commands[container] = command{op: container, kind: kindContainer}
	}
	commands["SELECT"] = command{op: "SELECT", kind: kindSelect}
	for _, n := range []string{"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"} {
		commands[n] = command{op: n, kind: kindSubscribe}
	}
	for _, n := range []string{"MONITOR", "SYNC", "PSYNC"} {
		commands[n] = command{op: n, kind: kindStream}
	}
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '|'
}

// upper writes name in upper case to buf, false when it is longer or holds
// a character no command name has.
func upper(buf *[maxName]byte, name []byte) (int, bool) {
	if len(name) == 0 || len(name) > maxName {
		return 0, false
	}
	for i, c := range name {
		if !isNameChar(c) {
			return 0, false
		}
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	return len(name), true
}

// lookup returns the operation name of a command: its upper-case name when
// Redis has it, a module's command ("JSON.GET": a dot in the name) as
// written but upper-case, else opOther.
func lookup(name []byte) (string, uint8) {
	var buf [maxName]byte
	n, ok := upper(&buf, name)
	if !ok {
		return opOther, kindPlain
	}
	if c, ok := commands[string(buf[:n])]; ok {
		return c.op, c.kind
	}
	if strings.IndexByte(string(buf[:n]), '.') > 0 {
		return moduleCommand(buf[:n]), kindPlain
	}
	return opOther, kindPlain
}

// subcommand returns "CONTAINER SUB" for a subcommand Redis has, else the
// container's name.
func subcommand(container string, sub []byte) string {
	var buf [maxName]byte
	n, ok := upper(&buf, sub)
	if !ok {
		return container
	}
	if op, ok := subcommands[container][string(buf[:n])]; ok {
		return op
	}
	if container == "CLIENT" && string(buf[:n]) == "REPLY" {
		return "CLIENT REPLY"
	}
	return container
}

// interner keeps names read from the bytes once each, at most max of them
// (beyond: opOther), so that a stream of made-up names can grow neither a
// table nor the metric series.
type interner struct {
	mu    sync.Mutex
	max   int
	names map[string]string
}

func (in *interner) get(name []byte) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.names[string(name)]; ok {
		return s
	}
	if len(in.names) >= in.max {
		return opOther
	}
	if in.names == nil {
		in.names = map[string]string{}
	}
	s := string(name)
	in.names[s] = s
	return s
}

var (
	modules    = interner{max: 256}
	errorCodes = interner{max: 256}
)

func moduleCommand(name []byte) string { return modules.get(name) }

// errorCode returns the error prefix of an error reply's text ("ERR",
// "WRONGTYPE", "MOVED"): its first word when that is an upper-case code
// and its end is in text, else "" (a script's own message).
func errorCode(text []byte) string {
	n := 0
	for n < len(text) && n <= maxName && (text[n] >= 'A' && text[n] <= 'Z' || text[n] >= '0' && text[n] <= '9' || text[n] == '_' || text[n] == '-') {
		n++
	}
	if n == 0 || n > maxName || n == len(text) || (text[n] != ' ' && text[n] != '\r') {
		return ""
	}
	if s, ok := knownErrors[string(text[:n])]; ok {
		return s
	}
	return errorCodes.get(text[:n])
}

// knownErrors are the error prefixes of Redis and its cluster.
var knownErrors = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{"ERR", "WRONGTYPE", "NOSCRIPT", "BUSYKEY", "MOVED", "ASK", "LOADING", "OOM",
		"NOAUTH", "NOPERM", "EXECABORT", "READONLY", "MASTERDOWN", "CROSSSLOT", "TRYAGAIN", "CLUSTERDOWN",
		"BUSY", "NOREPLICAS", "MISCONF", "UNKILLABLE", "NOTBUSY", "NOPROTO", "WRONGPASS", "NOGROUP",
		"BUSYGROUP", "UNBLOCKED"} {
		m[s] = s
	}
	return m
}()

// atoi parses a non-negative decimal of at most 10 digits.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// dbNames holds "0".."15" (Redis's default number of databases), so that a
// SELECT costs no allocation.
var dbNames = func() (t [16]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func dbName(b []byte) string {
	n, ok := atoi(b)
	switch {
	case !ok || len(b) > 5 || (len(b) > 1 && b[0] == '0'):
		return ""
	case n < len(dbNames):
		return dbNames[n]
	}
	return string(b)
}
