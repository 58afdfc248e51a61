// Package sqltext reads SQL statement text the way the database semantic
// conventions want it read, for the protocols that carry SQL (PostgreSQL,
// MySQL): the operation (the statement's first keyword), the one collection
// it names when there is only one, the query summary ("SELECT users",
// "INSERT orders SELECT carts") and, only when asked, the text with every
// literal replaced by "?".
//
// It is a lexer, not a parser: cheap, bounded by the text it is given, and
// wrong only towards saying less (an unusual statement gets a shorter
// summary and no collection). It never fails and never panics.
package sqltext

// Dialect says how literals and identifiers are quoted.
type Dialect uint8

const (
	// PostgreSQL: "..." quotes identifiers, $n are parameters, $tag$...$tag$
	// quotes strings, block comments nest.
	PostgreSQL Dialect = iota + 1
	// MySQL and MariaDB: `...` quotes identifiers, "..." is a string (the
	// default sql_mode), backslash escapes in strings, # comments.
	MySQL
)

// Statement is what may be reported of one statement (or of several sent
// as one text).
type Statement struct {
	// Operation is the first keyword, as written ("SELECT", "insert"); of
	// a WITH statement, the operation its CTEs lead to. "" when the text
	// does not start with a word.
	Operation string
	// Target is the collection (table) the statement names, when it names
	// exactly one; "" otherwise. Quoted and qualified as written.
	Target string
	// Summary is db.query.summary: the operations and targets in the order
	// written, at most MaxSummary bytes.
	Summary string
	// Text is the statement with literals replaced by "?" and comments
	// dropped; set only when Analyze was asked for it.
	Text string
}

// MaxSummary bounds db.query.summary (the conventions' 255 characters).
const MaxSummary = 255

// MaxText bounds the sanitised text kept.
const MaxText = 2048

// Names interns the strings a connection's statements yield: a client
// repeats the same few statements, so after the first time a statement's
// operation, target and summary cost no allocation. The zero value is
// ready; it holds at most maxNames strings.
type Names struct {
	m map[string]string
}

const maxNames = 256

// intern returns b as a string, the same string for the same bytes.
func (n *Names) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := n.m[string(b)]; ok {
		return s
	}
	if n.m == nil || len(n.m) >= maxNames {
		n.m = make(map[string]string, 16)
	}
	s := string(b)
	n.m[s] = s
	return s
}

// Analyze reads text. complete: text is the whole statement (not cut by a
// copy limit); a cut statement may name more collections past the cut, so
// its Target is left out. withText: also return the sanitised Text.
// names may be nil.
func Analyze(d Dialect, text []byte, complete, withText bool, names *Names) Statement {
	if names == nil {
		names = &Names{}
	}
	var a analyzer
	a.run(d, text)
	st := Statement{Operation: names.intern(a.op), Summary: names.intern(a.sum[:a.n])}
	if a.targets == 1 && !a.multi && (complete || a.inValues) {
		st.Target = names.intern(a.target)
	}
	if withText {
		st.Text = sanitize(d, text)
	}
	return st
}

// analyzer builds the summary in one pass over the tokens.
type analyzer struct {
	op      []byte
	sum     [MaxSummary]byte // the summary: sum[:n]
	n       int
	target  []byte
	targets int
	// multi: a second statement follows a ';'.
	multi bool
	// inValues: an INSERT's VALUES list was reached at the top level (a
	// statement cut there names no more collections).
	inValues bool
	full     bool // the summary reached MaxSummary: nothing more is added
}

// keyword compares a word to an upper-case keyword, ignoring case.
func keyword(w []byte, kw string) bool {
	if len(w) != len(kw) {
		return false
	}
	for i := range w {
		c := w[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != kw[i] {
			return false
		}
	}
	return true
}

func anyKeyword(w []byte, kws ...string) bool {
	for _, k := range kws {
		if keyword(w, k) {
			return true
		}
	}
	return false
}

// operations are the words that are reported in the summary wherever they
// appear (a sub-select, INSERT ... SELECT, UNION SELECT).
func isOperation(w []byte) bool {
	return anyKeyword(w, "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE")
}

// notTable: keywords that follow FROM/JOIN/INTO/... where a table would be,
// or end a FROM list, and so are never taken for a table.
func notTable(w []byte) bool {
	return anyKeyword(w, "SELECT", "WHERE", "ON", "USING", "GROUP", "ORDER", "LIMIT", "OFFSET", "HAVING",
		"UNION", "EXCEPT", "INTERSECT", "SET", "VALUES", "VALUE", "RETURNING", "FOR", "WINDOW", "JOIN",
		"INNER", "LEFT", "RIGHT", "FULL", "OUTER", "CROSS", "NATURAL", "STRAIGHT_JOIN", "DEFAULT", "FETCH",
		"AS", "WITH", "LATERAL", "ONLY", "IF", "NOT", "EXISTS", "UNNEST", "DUAL", "PARTITION", "IGNORE",
		"LOW_PRIORITY", "HIGH_PRIORITY", "DELAYED", "QUICK", "TEMPORARY", "TEMP", "UNLOGGED")
}

func (a *analyzer) add(part []byte) {
	if a.full || len(part) == 0 {
		return
	}
	n := a.n
	need := len(part)
	if n > 0 {
		need++
	}
	if n+need > MaxSummary {
		a.full = true // never cut inside an operation or a target
		return
	}
	if n > 0 {
		a.sum[n] = ' '
		n++
	}
	a.n = n + copy(a.sum[n:], part)
}

// expect says what the next word means.
type expect uint8

const (
	expNothing   expect = iota
	expTable            // a table follows (FROM, JOIN, INTO, UPDATE, TABLE)
	expAfter            // a table was just read: an alias, a comma (FROM lists) or a '.'
	expQualified        // after "schema.": the rest of a qualified name
)

func (a *analyzer) run(d Dialect, s []byte) {
	l := lexer{d: d, s: s}
	var (
		exp       expect
		fromList  bool // the table list of a FROM at depth fromDepth
		fromDepth int
		depth     int
		first     = true // the next word starts a statement
		stmtOp    []byte // the statement's first word
		with      bool   // the statement began with WITH: its operation comes later
		tStart    = -1   // the table name being read: s[tStart:tEnd]
		tEnd      int
		last      []byte // the previous token, when a word
	)
	endTable := func() {
		if tStart >= 0 {
			name := s[tStart:tEnd]
			a.add(name)
			if a.targets == 0 {
				a.target = name
			}
			if a.targets == 0 || string(a.target) != string(name) {
				a.targets++
			}
			tStart = -1
		}
	}
	for {
		t := l.next()
		if t.kind == tComment {
			continue
		}
		w := s[t.start:t.end]
		prev := last
		last = nil
		if t.kind == tWord {
			last = w
		}
		if exp == expAfter || exp == expQualified {
			if t.kind == tPunct && w[0] == '.' && exp == expAfter {
				exp = expQualified
				continue
			}
			if exp == expQualified && (t.kind == tWord || t.kind == tQuoted) {
				tEnd = t.end
				exp = expAfter
				continue
			}
			endTable()
			exp = expNothing
			if t.kind == tWord && !notTable(w) && fromList && depth == fromDepth {
				continue // an alias: FROM users u
			}
		}
		switch t.kind {
		case tEOF:
			return
		case tWord:
			switch {
			case first:
				first = false
				stmtOp = w
				if a.op == nil && !a.multi {
					if keyword(w, "WITH") {
						with = true
					} else if len(w) <= 32 {
						a.op = w
					}
				}
				if !keyword(w, "WITH") {
					a.add(w)
				}
				switch {
				case anyKeyword(w, "UPDATE", "TRUNCATE", "COPY"):
					exp = expTable
				case anyKeyword(w, "INSERT", "REPLACE", "UPSERT"):
					// INTO follows (optional in MySQL)
					exp = expTable
				}
			case exp == expTable && keyword(w, "INTO"):
			case exp == expTable && (keyword(w, "TABLE") || keyword(w, "ONLY") || keyword(w, "IF") ||
				keyword(w, "NOT") || keyword(w, "EXISTS") || keyword(w, "LOW_PRIORITY") ||
				keyword(w, "DELAYED") || keyword(w, "HIGH_PRIORITY") || keyword(w, "IGNORE") || keyword(w, "QUICK")):
			case exp == expTable && !notTable(w):
				tStart, tEnd = t.start, t.end
				exp = expAfter
			case isOperation(w) && (anyKeyword(prev, "FOR", "KEY", "DO", "ON") ||
				anyKeyword(w, "REPLACE", "INSERT") && l.peekPunct('(')):
				// SELECT ... FOR UPDATE, ON DUPLICATE KEY UPDATE, ON CONFLICT
				// DO UPDATE, ON DELETE CASCADE; the REPLACE() and INSERT()
				// string functions
				exp = expNothing
			case isOperation(w):
				exp = expNothing
				if with && depth == 0 && a.op == nil && !a.multi {
					a.op = w
				}
				a.add(w)
				if anyKeyword(w, "UPDATE", "INSERT", "REPLACE", "UPSERT") {
					exp = expTable
				}
			case keyword(w, "FROM") && depth == 0 && keyword(stmtOp, "COPY"):
				exp = expNothing // COPY t FROM STDIN: a file, not a table
			case keyword(w, "FROM"):
				exp = expTable
				fromList, fromDepth = true, depth
			case keyword(w, "JOIN") || keyword(w, "STRAIGHT_JOIN"):
				exp = expTable
			case keyword(w, "INTO"):
				exp = expTable
				fromList = false
			case keyword(w, "TABLE") && anyKeyword(stmtOp, "CREATE", "DROP", "ALTER", "TRUNCATE", "LOCK"):
				exp = expTable
			case keyword(w, "VALUES") || keyword(w, "VALUE"):
				exp = expNothing
				if depth == 0 && anyKeyword(stmtOp, "INSERT", "REPLACE") {
					a.inValues = true
				}
			case notTable(w) && depth == fromDepth:
				exp = expNothing
				fromList = false
			default:
				if exp == expTable {
					exp = expNothing
				}
			}
		case tQuoted:
			if exp == expTable {
				tStart, tEnd = t.start, t.end
				exp = expAfter
			}
		case tPunct:
			switch w[0] {
			case '(':
				depth++
				exp = expNothing
			case ')':
				depth--
				if depth < fromDepth {
					fromList = false
				}
				exp = expNothing
			case ',':
				if fromList && depth == fromDepth {
					exp = expTable
				} else {
					exp = expNothing
				}
			case ';':
				exp, fromList, depth, fromDepth = expNothing, false, 0, 0
				first, stmtOp, with = true, nil, false
				// a following statement makes this a batch
				for {
					n := l.next()
					if n.kind == tComment || n.kind == tPunct && s[n.start] == ';' {
						continue
					}
					if n.kind != tEOF {
						a.multi = true
					}
					l.pos = n.start
					break
				}
			}
		default:
			if exp == expTable {
				exp = expNothing
			}
		}
	}
}

// peekPunct says whether the next token (past comments) is the punctuation c.
func (l *lexer) peekPunct(c byte) bool {
	pos := l.pos
	defer func() { l.pos = pos }()
	for {
		t := l.next()
		if t.kind != tComment {
			return t.kind == tPunct && l.s[t.start] == c
		}
	}
}

// sanitize returns s with string, numeric and boolean literals replaced by
// "?", comments dropped and white space between tokens made one space, at
// most MaxText bytes (cut between tokens). A literal cut by the end of the
// text is a literal too.
func sanitize(d Dialect, s []byte) string {
	out := make([]byte, 0, min(len(s), MaxText))
	l := lexer{d: d, s: s}
	space := false // white space or a comment since the last token kept
	end := 0
	for {
		t := l.next()
		if t.kind == tEOF {
			break
		}
		if t.start > end {
			space = true
		}
		end = t.end
		if t.kind == tComment {
			space = true
			continue
		}
		part := s[t.start:t.end]
		if t.kind == tString || t.kind == tNumber || t.kind == tWord && anyKeyword(part, "TRUE", "FALSE") {
			part = question
		}
		sep := space && len(out) > 0
		if n := len(out) + len(part); n > MaxText || sep && n+1 > MaxText {
			break
		}
		if sep {
			out = append(out, ' ')
		}
		space = false
		out = append(out, part...)
	}
	return string(out)
}

var question = []byte("?")
