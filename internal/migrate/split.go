package migrate

import (
	"fmt"
	"strings"
)

// splitStatements splits SQL text into statements at top-level semicolons.
// It understands single-quoted strings (with ” and E'\” escapes), quoted
// identifiers, dollar quoting ($tag$ … $tag$), -- and /* */ comments, and
// CREATE TRIGGER/FUNCTION bodies written BEGIN … END (SQLite triggers,
// PostgreSQL BEGIN ATOMIC), where inner semicolons do not end the
// statement. Statements are returned trimmed, without the final semicolon;
// empty ones (only comments or blanks) are dropped.
func splitStatements(src string) ([]string, error) {
	var (
		out   []string
		start int
		depth int // BEGIN/CASE … END nesting inside a CREATE statement
		word  strings.Builder
		words []string // first words of the current statement
	)
	flushWord := func() {
		if word.Len() == 0 {
			return
		}
		w := strings.ToUpper(word.String())
		word.Reset()
		if len(words) < 8 {
			words = append(words, w)
		}
		if len(words) > 0 && words[0] == "CREATE" {
			switch w {
			case "BEGIN", "CASE":
				depth++
			case "END":
				if depth > 0 {
					depth--
				}
			}
		}
	}
	emit := func(end int) {
		s := strings.TrimSpace(src[start:end])
		if strings.TrimSpace(stripComments(s)) != "" {
			out = append(out, s)
		}
		start = end + 1
		depth = 0
		words = words[:0]
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			flushWord()
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			flushWord()
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated /* comment")
			}
			i += end + 3
		case c == '\'':
			escapes := word.Len() == 1 && strings.EqualFold(word.String(), "e")
			word.Reset()
			j := i + 1
			for ; j < len(src); j++ {
				if escapes && src[j] == '\\' {
					j++
					continue
				}
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						j++
						continue
					}
					break
				}
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated string literal")
			}
			i = j
		case c == '"':
			flushWord()
			end := strings.IndexByte(src[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted identifier")
			}
			i += end + 1
		case c == '$' && word.Len() == 0:
			tag, ok := dollarTag(src[i:])
			if !ok {
				continue
			}
			end := strings.Index(src[i+len(tag):], tag)
			if end < 0 {
				return nil, fmt.Errorf("unterminated dollar-quoted string %s", tag)
			}
			i += len(tag) + end + len(tag) - 1
		case isWordByte(c):
			word.WriteByte(c)
		case c == ';':
			flushWord()
			if depth == 0 {
				emit(i)
			}
		default:
			flushWord()
		}
	}
	flushWord()
	emit(len(src))
	return out, nil
}

// dollarTag returns the opening tag ($$ or $name$) at the start of s.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		switch {
		case s[j] == '$':
			return s[:j+1], true
		case isWordByte(s[j]) && !(j == 1 && s[j] >= '0' && s[j] <= '9'):
		default:
			return "", false
		}
	}
	return "", false
}

func isWordByte(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// stripComments removes -- and /* */ comments outside quotes, for
// classifying a statement; it is not used to rewrite what runs.
func stripComments(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			for i < len(s) && s[i] != '\n' {
				i++
			}
			b.WriteByte(' ')
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return b.String()
			}
			i += end + 3
			b.WriteByte(' ')
		case c == '\'' || c == '"':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			b.WriteString(s[i : i+end+2])
			i += end + 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// normalize is the statement without comments, in upper case, with runs of
// white space collapsed: the form classification looks at.
func normalize(stmt string) string {
	return strings.ToUpper(strings.Join(strings.Fields(stripComments(stmt)), " "))
}
