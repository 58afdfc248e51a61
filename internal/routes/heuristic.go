package routes

import "strings"

const (
	// maxSegmentLen is the longest segment the heuristic keeps: anything
	// longer is content (a slug, a token), not a name.
	maxSegmentLen = 48
	// MaxRouteLen bounds the length of a heuristic route: MaxSegments kept
	// segments and the "/**" that replaces the rest.
	MaxRouteLen = MaxSegments*(1+maxSegmentLen) + len("/**")
)

// Heuristic returns a template of path that keeps the segments that look like
// names and replaces those that look like values with "*". It is what the
// heuristic unmatched mode uses, exported to document and test the rules:
//
//   - The query string and fragment are dropped, empty segments (a trailing
//     "/", "//") are skipped; "/" stays "/". A path that does not start with
//     "/" has no route: "".
//   - A segment is kept when every part of it, split at "-", "_", "." and
//     "~", is a word, and it has at least one letter. A word is:
//     letters (unless they look random: long mixed case with many case
//     changes, like "NffrFeUfNVHib", or a hex string of 12 or more);
//     an API version: v1, v2beta, v1beta1, v1alpha2, v3rc1 (and v1.2 as a
//     whole segment); letters ending in one digit: oauth2, ipv6, md5, s3;
//     or one of a few common names with digits: sha256, base64, x509, k8s,
//     i18n, l10n, a11y, 2fa, e2e, b2b, b2c, p2p, 3ds, h264, h265.
//   - So a segment is replaced when it holds a number (42, 2024-01-31,
//     order-1234), a UUID, a hex or base64 hash or token, any character
//     other than letters, digits and "-_.~" (an email's "@", "%", ":", "=",
//     "+", non-ASCII), or more than 48 bytes.
//   - A file name with a common extension (.js, .css, .png, .pdf, .json, ...)
//     is kept when its stem is kept, else it becomes "*" with the extension:
//     app.min.js stays, main.8f3a1c2e.js becomes *.js.
//   - "*" and "**" are kept, so that Heuristic(Heuristic(p)) == Heuristic(p).
//   - After MaxSegments segments the rest becomes one "/**".
//
// Words without digits, such as a slug (/posts/how-to-bake-bread) or a user
// name, are kept: configure a pattern for them. The result is at most
// MaxRouteLen bytes whatever the input. Heuristic allocates the result only
// when it differs from path.
func Heuristic(path string) string {
	return heuristic(cutQuery(path))
}

// heuristic is Heuristic of a path without query string and fragment.
func heuristic(path string) string {
	if path == "" || path[0] != '/' {
		return ""
	}
	var buf [MaxRouteLen]byte
	n := 0
	rest := path
	for count := 0; ; count++ {
		var seg string
		seg, rest = next(rest)
		if seg == "" {
			break
		}
		if count == MaxSegments {
			n += copy(buf[n:], "/**")
			break
		}
		buf[n] = '/'
		n++
		if keep, ext := classify(seg); keep {
			n += copy(buf[n:], seg) // a kept segment is at most maxSegmentLen
		} else {
			buf[n] = '*'
			n++
			n += copy(buf[n:], ext)
		}
	}
	if n == 0 {
		return "/"
	}
	if string(buf[:n]) == path { // compared without a conversion
		return path
	}
	return string(buf[:n])
}

// classify says whether seg is kept as it is; when it is not, ext is the
// file extension (with its dot) to keep after the "*", or "".
func classify(seg string) (keep bool, ext string) {
	if seg == "*" || seg == "**" {
		return true, ""
	}
	stem := seg
	if dot := strings.LastIndexByte(seg, '.'); dot > 0 && knownExtension(seg[dot:]) {
		stem, ext = seg[:dot], seg[dot:]
	}
	switch {
	case len(seg) > maxSegmentLen:
		return false, ext
	case ext != "" && stem == "*":
		return true, "" // our own "*.js"
	case isNameSegment(stem) || isVersion(stem):
		return true, ""
	}
	return false, ext
}

// isNameSegment says whether every "-_.~"-separated part of s is a word and
// s has a letter.
func isNameSegment(s string) bool {
	letter := false
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			c := s[i]
			switch {
			case isLetter(c):
				letter = true
				continue
			case isDigit(c):
				continue
			case c != '-' && c != '_' && c != '.' && c != '~':
				return false
			}
		}
		if !isWord(s[start:i]) {
			return false
		}
		start = i + 1
	}
	return letter
}

// isWord classifies one part of a segment, made of ASCII letters and digits.
func isWord(w string) bool {
	if w == "" {
		return true
	}
	var upper, digits int
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case isDigit(c):
			digits++
		case 'A' <= c && c <= 'Z':
			upper++
		}
	}
	switch {
	case digits == len(w):
		return false // a number
	case len(w) >= 12 && isHex(w):
		return false // a hash
	case digits == 0:
		return !looksRandom(w, upper)
	case isVersion(w):
		return true
	case digits == 1 && isDigit(w[len(w)-1]):
		return !looksRandom(w, upper) // oauth2, ipv6, s3
	}
	return knownWithDigits(w)
}

// looksRandom says whether letters w look generated rather than written.
// Written words are lower case, Capitalised, camelCase or ACRONYMS: few
// capitals, or capitals in runs. Random mixed case (base64, base62 ids) has
// about as many capitals as small letters and changes case all the time.
func looksRandom(w string, upper int) bool {
	if len(w) < 8 || 3*upper < len(w) {
		return false
	}
	if upper == len(w) {
		return len(w) >= 16 // an acronym is short
	}
	changes, lone := 0, 0
	for i := 1; i < len(w); i++ {
		if isUpper(w[i]) != isUpper(w[i-1]) {
			changes++
		}
		if i+1 < len(w) && !isUpper(w[i]) && isUpper(w[i-1]) && isUpper(w[i+1]) {
			lone++ // a single small letter between capitals: "FeU"
		}
	}
	return lone >= 2 || 2*changes >= len(w)
}

// isVersion matches API versions: v or V, 1-4 digits, up to two ".digits",
// then optionally alpha, beta or rc and up to 3 digits: v1, v10, v1.2,
// v2beta, v1beta1, v1alpha2, v3rc1.
func isVersion(s string) bool {
	if len(s) < 2 || (s[0] != 'v' && s[0] != 'V') {
		return false
	}
	i := 1
	for part := 0; ; part++ {
		n := digitRun(s[i:])
		if n == 0 || n > 4 {
			return false
		}
		i += n
		if part == 2 || i == len(s) || s[i] != '.' {
			break
		}
		i++ // "."
	}
	rest := s[i:]
	for _, tag := range [...]string{"alpha", "beta", "rc"} {
		if strings.HasPrefix(rest, tag) {
			rest = rest[len(tag):]
			n := digitRun(rest)
			return n == len(rest) && n <= 3
		}
	}
	return rest == ""
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

func isHex(w string) bool {
	for i := 0; i < len(w); i++ {
		c := w[i] | 0x20 // lower case; digits are unchanged
		if !isDigit(w[i]) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// wordsWithDigits are names that contain digits but no value.
var wordsWithDigits = set(`
	sha224 sha256 sha384 sha512 base32 base64 x509 k8s i18n l10n a11y
	2fa e2e b2b b2c p2p 3ds h264 h265`)

func knownWithDigits(w string) bool {
	return inLower(wordsWithDigits, w)
}

// extensions are the file extensions the heuristic keeps after a "*".
var extensions = set(`
		html htm xhtml js mjs cjs css map json xml txt csv tsv md yaml yml
		pdf doc docx xls xlsx ppt pptx odt rtf
		png jpg jpeg gif svg webp avif ico bmp tif tiff heic
		woff woff2 ttf otf eot
		mp3 mp4 m4a m4v ogg oga wav webm mov avi mkv flac
		zip gz tgz tar bz2 xz zst rar 7z jar war apk dmg exe msi deb rpm iso
		wasm php jsp asp aspx cgi rss atom`)

// maxExtLen is the longest extension in extensions, with its dot.
const maxExtLen = len(".xhtml")

// knownExtension says whether ext (".PNG", with its dot) is in extensions,
// ignoring case.
func knownExtension(ext string) bool {
	return len(ext) >= 2 && inLower(extensions, ext[1:])
}

// maxSetWord is the longest word of a set.
const maxSetWord = 6

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		if len(w) > maxSetWord || w != strings.ToLower(w) {
			panic("routes: set word too long or not lower case: " + w)
		}
		m[w] = true
	}
	return m
}

// inLower says whether w, in lower case, is in m, without allocating.
func inLower(m map[string]bool, w string) bool {
	if len(w) > maxSetWord {
		return false
	}
	var low [maxSetWord]byte
	for i := 0; i < len(w); i++ {
		c := w[i]
		if isUpper(c) {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	return m[string(low[:len(w)])]
}
