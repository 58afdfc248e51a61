package memcached

// What a command's reply is made of.
const (
	replyLine   uint8 = iota + 1 // one line (STORED, DELETED, a number, OK, VERSION x)
	replyValues                  // VALUE lines with their data, then END
	replyStats                   // STAT lines, then END
	replyMeta                    // one line; VA is followed by its data
)

// command is what the parser needs of a command.
type command struct {
	reply uint8
	// data: the index of the token holding the length of the data block
	// that follows the line (storage commands, ms), 0 when none.
	data int
	// bare: it can come without arguments ("version\r\n").
	bare bool
	// meta: a meta command, whose flags may ask for quiet mode.
	meta bool
}

// maxName bounds a command's name.
const maxName = 16

// commands are memcached 1.6's text protocol commands.
var commands = map[string]command{
	"get": {reply: replyValues}, "gets": {reply: replyValues},
	"gat": {reply: replyValues}, "gats": {reply: replyValues},
	"set": {reply: replyLine, data: 4}, "add": {reply: replyLine, data: 4},
	"replace": {reply: replyLine, data: 4}, "append": {reply: replyLine, data: 4},
	"prepend": {reply: replyLine, data: 4}, "cas": {reply: replyLine, data: 4},
	"delete": {reply: replyLine}, "incr": {reply: replyLine}, "decr": {reply: replyLine},
	"touch": {reply: replyLine}, "verbosity": {reply: replyLine},
	"flush_all": {reply: replyLine, bare: true}, "version": {reply: replyLine, bare: true},
	"cache_memlimit": {reply: replyLine}, "shutdown": {reply: replyLine, bare: true},
	"stats": {reply: replyStats, bare: true},
	"quit":  {bare: true}, // no reply: the server closes the connection
	"mg":    {reply: replyMeta, meta: true}, "ms": {reply: replyMeta, data: 2, meta: true},
	"md": {reply: replyMeta, meta: true}, "ma": {reply: replyMeta, meta: true},
	"mn": {reply: replyMeta, bare: true, meta: true}, "me": {reply: replyMeta, meta: true},
}

// opNames holds each command's name once, so that a record's operation
// costs no allocation.
var opNames = func() map[string]string {
	m := make(map[string]string, len(commands))
	for n := range commands {
		m[n] = n
	}
	return m
}()
