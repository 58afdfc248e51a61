package http1

import "bytes"

// splitTarget returns the path of a request-target (without query or
// fragment) and, for the absolute and authority forms, its authority.
// complete says whether the whole target was seen; when it was not, a part
// is returned only if its end was seen (never a truncated path).
func splitTarget(t []byte, complete, connect bool) (path []byte, pathOK bool, auth []byte, authOK bool) {
	if len(t) == 0 {
		return nil, false, nil, false
	}
	switch {
	case t[0] == '/': // origin-form
		path, pathOK = cutPath(t, complete)
		return path, pathOK, nil, false
	case len(t) == 1 && t[0] == '*' && complete: // asterisk-form
		return t, true, nil, false
	case connect: // authority-form
		return nil, false, t, complete
	}
	// absolute-form: scheme "://" authority [path] [?query] [#fragment]
	s := schemeLen(t)
	if s == 0 || len(t) < s+3 || string(t[s:s+3]) != "://" {
		return nil, false, nil, false // not a form we recognise
	}
	rest := t[s+3:]
	k := bytes.IndexAny(rest, "/?#")
	if k < 0 {
		if !complete {
			return nil, false, nil, false
		}
		return slash, true, stripUserinfo(rest), true
	}
	auth = stripUserinfo(rest[:k])
	if rest[k] != '/' {
		return slash, true, auth, true // empty path means "/"
	}
	path, pathOK = cutPath(rest[k:], complete)
	return path, pathOK, auth, true
}

var slash = []byte("/")

// cutPath drops the query and fragment from an origin-form target.
func cutPath(t []byte, complete bool) ([]byte, bool) {
	if k := bytes.IndexAny(t, "?#"); k >= 0 {
		return t[:k], true
	}
	if !complete {
		return nil, false
	}
	return t, true
}

// schemeLen returns the length of a URI scheme at the start of t, 0 if none.
func schemeLen(t []byte) int {
	for i, c := range t {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return i
		}
	}
	return len(t)
}

func stripUserinfo(a []byte) []byte {
	if k := bytes.LastIndexByte(a, '@'); k >= 0 {
		return a[k+1:]
	}
	return a
}
