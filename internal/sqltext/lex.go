package sqltext

// kind is a token's kind.
type kind uint8

const (
	tEOF     kind = iota
	tWord         // an identifier or a keyword
	tQuoted       // a quoted identifier ("users" in PostgreSQL, `users` in MySQL)
	tString       // a string literal, of any quoting
	tNumber       // a numeric literal (hex and bit forms included)
	tParam        // a placeholder: $1, ?, :name
	tPunct        // one of ( ) , ; .
	tOther        // an operator or anything else
	tComment      // a comment
)

// token is one lexical token of a statement: s[start:end].
type token struct {
	kind       kind
	start, end int
}

// lexer walks a statement's tokens. It never fails: bytes it does not know
// are tOther, an unterminated literal or comment runs to the end.
type lexer struct {
	d   Dialect
	s   []byte
	pos int
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isLetter(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordByte(c byte) bool { return isLetter(c) || isDigit(c) || c == '$' }

// next returns the next token, comments included; tEOF at the end.
func (l *lexer) next() token {
	s := l.s
	i := l.pos
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i >= len(s) {
		l.pos = i
		return token{kind: tEOF, start: i, end: i}
	}
	start := i
	c := s[i]
	k := tOther
	switch {
	case c == '-' && i+1 < len(s) && s[i+1] == '-', c == '#' && l.d == MySQL:
		k, i = tComment, lineEnd(s, i)
	case c == '/' && i+1 < len(s) && s[i+1] == '*':
		k, i = tComment, l.blockCommentEnd(i)
	case c == '\'':
		k, i = tString, quoteEnd(s, i, '\'', l.d == MySQL)
	case c == '"':
		// PostgreSQL (and MySQL in ANSI_QUOTES mode) quote identifiers
		// with ", MySQL by default strings: a MySQL "..." is a literal.
		if l.d == MySQL {
			k, i = tString, quoteEnd(s, i, '"', true)
		} else {
			k, i = tQuoted, quoteEnd(s, i, '"', false)
		}
	case c == '`':
		k, i = tQuoted, quoteEnd(s, i, '`', false)
	case c == '$' && l.d == PostgreSQL:
		k, i = l.dollar(i)
	case c == '?':
		k, i = tParam, i+1
	case c == ':' && i+1 < len(s) && isLetter(s[i+1]) && (i == 0 || s[i-1] != ':'):
		k, i = tParam, wordEnd(s, i+1)
	case isDigit(c) || c == '.' && i+1 < len(s) && isDigit(s[i+1]):
		k, i = tNumber, numberEnd(s, i)
	case isLetter(c):
		i = wordEnd(s, i)
		// E'...', B'...', X'...', N'...' (and MySQL _utf8'...'): a typed
		// string literal; U&'...' in PostgreSQL.
		if i < len(s) && s[i] == '\'' && stringPrefix(s[start:i]) {
			k, i = tString, quoteEnd(s, i, '\'', l.d == MySQL || s[start]|0x20 == 'e')
		} else if i+1 < len(s) && s[i] == '&' && s[i+1] == '\'' && i-start == 1 && s[start]|0x20 == 'u' {
			k, i = tString, quoteEnd(s, i+1, '\'', false)
		} else {
			k = tWord
		}
	case c == '(' || c == ')' || c == ',' || c == ';' || c == '.':
		k, i = tPunct, i+1
	default:
		i++
	}
	l.pos = i
	return token{kind: k, start: start, end: i}
}

// stringPrefix: a word that makes the quote after it a literal's.
func stringPrefix(w []byte) bool {
	if len(w) == 1 {
		switch w[0] | 0x20 {
		case 'e', 'b', 'x', 'n':
			return true
		}
	}
	return len(w) > 1 && w[0] == '_' // MySQL charset introducers: _utf8mb4'...'
}

func lineEnd(s []byte, i int) int {
	for i < len(s) && s[i] != '\n' {
		i++
	}
	return i
}

// blockCommentEnd: PostgreSQL's block comments nest, MySQL's do not.
func (l *lexer) blockCommentEnd(i int) int {
	s := l.s
	depth := 0
	for i+1 < len(s) {
		switch {
		case s[i] == '/' && s[i+1] == '*':
			depth++
			i += 2
			if l.d == MySQL {
				depth = 1
			}
		case s[i] == '*' && s[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(s)
}

// quoteEnd returns the end of the quoted run opening at s[i] == q: a
// doubled quote is one quote; with backslash, \ escapes the next byte.
func quoteEnd(s []byte, i int, q byte, backslash bool) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if backslash {
				i++
			}
		case q:
			if i+1 < len(s) && s[i+1] == q {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(s)
}

func wordEnd(s []byte, i int) int {
	for i < len(s) && isWordByte(s[i]) {
		i++
	}
	return i
}

// numberEnd: digits, a point, an exponent with its sign, and the letters of
// hex and bit forms (0x1F, 0b101, 1e-5).
func numberEnd(s []byte, i int) int {
	for i < len(s) {
		c := s[i]
		switch {
		case isDigit(c) || c == '.' || c == '_' || isLetter(c) && c < 0x80:
			if (c == 'e' || c == 'E') && i+1 < len(s) && (s[i+1] == '+' || s[i+1] == '-') {
				i++
			}
			i++
		default:
			return i
		}
	}
	return i
}

// dollar reads what starts with $ in PostgreSQL: a parameter ($1), a
// dollar-quoted string ($$...$$, $tag$...$tag$), or an operator byte.
func (l *lexer) dollar(i int) (kind, int) {
	s := l.s
	j := i + 1
	if j < len(s) && isDigit(s[j]) {
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		return tParam, j
	}
	for j < len(s) && (isLetter(s[j]) || isDigit(s[j])) && s[j] != '$' {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return tOther, i + 1
	}
	tag := s[i : j+1]
	for k := j + 1; k+len(tag) <= len(s); k++ {
		if s[k] == '$' && string(s[k:k+len(tag)]) == string(tag) {
			return tString, k + len(tag)
		}
	}
	return tString, len(s)
}
