package server

import (
	"slices"
	"unicode/utf8"
)

// encodeReply writes {"output":{"parameters":[...]}} for maps, byte for
// byte as encoding/json would (sorted keys, HTML-safe escaping, invalid
// UTF-8 replaced), into one exactly-sized buffer. encoding/json keeps a
// pooled buffer as large as the largest answer ever encoded, which at ten
// thousand previews doubled the resident memory.
func encodeReply(maps []map[string]string) []byte {
	const head, tail = `{"output":{"parameters":[`, `]}}`
	size := len(head) + len(tail) + len(maps)
	keys := make([][]string, len(maps))
	for i, m := range maps {
		ks := make([]string, 0, len(m))
		size += 2
		for k, v := range m {
			ks = append(ks, k)
			size += quotedLen(k) + quotedLen(v) + 2
		}
		slices.Sort(ks)
		keys[i] = ks
	}
	b := make([]byte, 0, size)
	b = append(b, head...)
	for i, m := range maps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for j, k := range keys[i] {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendQuoted(b, k)
			b = append(b, ':')
			b = appendQuoted(b, m[k])
		}
		b = append(b, '}')
	}
	return append(b, tail...)
}

const hexDigits = "0123456789abcdef"

// needsEscape reports whether an ASCII byte is escaped by encoding/json.
func needsEscape(c byte) bool {
	return c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&'
}

// quotedLen is an upper bound of len(appendQuoted(nil, s)).
func quotedLen(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < utf8.RuneSelf && needsEscape(c) {
			n += 6
		} else {
			n++
		}
	}
	return n + 2*len(s)/3 // room for U+FFFD / U+2028 replacements
}

// appendQuoted appends s as a JSON string, escaped like encoding/json.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !needsEscape(c) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
