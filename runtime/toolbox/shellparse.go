package toolbox

import (
	"fmt"
	"strings"
)

// A parsed script: lists of commands joined by && and ||.
type (
	andOr struct {
		commands []simpleCommand
		ops      []string // ops[i] joins commands[i] and commands[i+1]
	}
	simpleCommand struct {
		assigns []assignment
		words   []word
	}
	assignment struct {
		name  string
		value word
	}
	// word is the parts of one shell word, in order.
	word []wordPart
	// wordPart is literal text, or a parameter (param set) whose default
	// (${NAME:-text}) is text when hasDefault.
	wordPart struct {
		text       string
		param      string
		hasDefault bool
		// quoted: inside quotes or escaped, so never split into fields.
		quoted bool
	}
)

// keywords of control flow, which the toolbox shell does not run.
var keywords = map[string]bool{
	"if": true, "then": true, "else": true, "elif": true, "fi": true, "for": true, "while": true,
	"until": true, "do": true, "done": true, "case": true, "esac": true, "function": true, "{": true, "}": true, "!": true,
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokWord
	tokSeparator // ; or a newline
	tokAnd
	tokOr
)

type token struct {
	kind    tokenKind
	word    word
	newline bool // a separator that is a newline
	line    int
}

type lexer struct {
	src  string
	pos  int
	line int
}

func (lx *lexer) errorf(format string, a ...any) error {
	return fmt.Errorf("line %d: %s", lx.line, fmt.Sprintf(format, a...))
}

// unsupported names what the toolbox shell refuses, by its first character.
var unsupported = map[byte]string{
	'|': "pipelines (|)",
	'<': "redirections (<)",
	'>': "redirections (>)",
	'(': "subshells ( )",
	')': "subshells ( )",
	'`': "command substitution (`...`)",
	'&': "background jobs (&)",
}

func (lx *lexer) next() (token, error) {
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			lx.pos++
		case c == '\\' && lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] == '\n':
			lx.pos += 2
			lx.line++
		case c == '#':
			for lx.pos < len(lx.src) && lx.src[lx.pos] != '\n' {
				lx.pos++
			}
		default:
			return lx.token()
		}
	}
	return token{kind: tokEOF, line: lx.line}, nil
}

func (lx *lexer) token() (token, error) {
	line := lx.line
	rest := lx.src[lx.pos:]
	switch {
	case rest[0] == '\n':
		lx.pos++
		lx.line++
		return token{kind: tokSeparator, newline: true, line: line}, nil
	case rest[0] == ';':
		lx.pos++
		return token{kind: tokSeparator, line: line}, nil
	case strings.HasPrefix(rest, "&&"):
		lx.pos += 2
		return token{kind: tokAnd, line: line}, nil
	case strings.HasPrefix(rest, "||"):
		lx.pos += 2
		return token{kind: tokOr, line: line}, nil
	}
	if what, ok := unsupported[rest[0]]; ok {
		return token{}, lx.errorf("%s: not supported by the toolbox shell (it runs ;, && and || lists)", what)
	}
	w, err := lx.word()
	return token{kind: tokWord, word: w, line: line}, err
}

// word reads one word up to an unquoted blank or operator.
func (lx *lexer) word() (word, error) {
	var w word
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			w = append(w, wordPart{text: lit.String()})
			lit.Reset()
		}
	}
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case strings.IndexByte(" \t\r\n;&|<>()`", c) >= 0:
			flush()
			return w, nil
		case c == '\\':
			lx.pos++
			if lx.pos >= len(lx.src) {
				lit.WriteByte('\\')
				continue
			}
			if lx.src[lx.pos] == '\n' {
				lx.pos++
				lx.line++
				continue
			}
			flush()
			w = append(w, wordPart{text: lx.src[lx.pos : lx.pos+1], quoted: true})
			lx.pos++
		case c == '\'':
			end := strings.IndexByte(lx.src[lx.pos+1:], '\'')
			if end < 0 {
				return nil, lx.errorf("unterminated quoted string (')")
			}
			text := lx.src[lx.pos+1 : lx.pos+1+end]
			lx.line += strings.Count(text, "\n")
			flush()
			w = append(w, wordPart{text: text, quoted: true})
			lx.pos += end + 2
		case c == '"':
			flush()
			parts, err := lx.doubleQuoted()
			if err != nil {
				return nil, err
			}
			w = append(w, parts...)
		case c == '$':
			p, ok, err := lx.dollar(false)
			if err != nil {
				return nil, err
			}
			if !ok {
				lit.WriteByte('$')
				lx.pos++
				continue
			}
			flush()
			w = append(w, p)
		case c == '*':
			// A shell would list the matching files: say so rather than
			// pass a * that matches nothing.
			return nil, lx.errorf("globs (*): not supported by the toolbox shell (quote a * meant as it is: '*')")
		default:
			lit.WriteByte(c)
			lx.pos++
		}
	}
	flush()
	return w, nil
}

// doubleQuoted reads "..." from its opening quote: \ escapes only $ " \
// and a newline, and $ expands.
func (lx *lexer) doubleQuoted() (word, error) {
	line := lx.line
	lx.pos++                      // the opening quote
	parts := word{{quoted: true}} // "" is an empty word, not none
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, wordPart{text: lit.String(), quoted: true})
			lit.Reset()
		}
	}
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == '"':
			lx.pos++
			flush()
			return parts, nil
		case c == '\\' && lx.pos+1 < len(lx.src) && strings.IndexByte("$\"\\\n`", lx.src[lx.pos+1]) >= 0:
			if lx.src[lx.pos+1] == '\n' {
				lx.line++
			} else {
				lit.WriteByte(lx.src[lx.pos+1])
			}
			lx.pos += 2
		case c == '`':
			return nil, lx.errorf("%s: not supported by the toolbox shell", unsupported['`'])
		case c == '$':
			p, ok, err := lx.dollar(true)
			if err != nil {
				return nil, err
			}
			if !ok {
				lit.WriteByte('$')
				lx.pos++
				continue
			}
			flush()
			parts = append(parts, p)
		default:
			if c == '\n' {
				lx.line++
			}
			lit.WriteByte(c)
			lx.pos++
		}
	}
	lx.line = line
	return nil, lx.errorf("unterminated quoted string (\")")
}

// dollar reads an expansion at a $: $NAME, ${NAME}, ${NAME:-WORD}, or one
// of $? $# $@ $* $0-$9. ok is false for a $ that starts none (a literal $).
func (lx *lexer) dollar(quoted bool) (wordPart, bool, error) {
	rest := lx.src[lx.pos+1:]
	if rest == "" {
		return wordPart{}, false, nil
	}
	switch c := rest[0]; {
	case c == '(':
		return wordPart{}, false, lx.errorf("command substitution $(...): not supported by the toolbox shell")
	case c == '{':
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return wordPart{}, false, lx.errorf("unterminated ${")
		}
		inner := rest[1:end]
		name, def, hasDefault := strings.Cut(inner, ":-")
		if !validName(name) && !specialParam(name) {
			return wordPart{}, false, lx.errorf("${%s}: only ${NAME} and ${NAME:-WORD} are supported", inner)
		}
		lx.pos += 1 + end + 1
		return wordPart{param: name, text: def, hasDefault: hasDefault, quoted: quoted}, true, nil
	case specialParam(string(c)):
		lx.pos += 2
		return wordPart{param: string(c), quoted: quoted}, true, nil
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		n := 1
		for n < len(rest) && validName(rest[:n+1]) {
			n++
		}
		lx.pos += 1 + n
		return wordPart{param: rest[:n], quoted: quoted}, true, nil
	}
	return wordPart{}, false, nil
}

func specialParam(name string) bool {
	return len(name) == 1 && strings.Contains("?#@*0123456789", name)
}

// parseScript parses a whole script into && / || lists.
func parseScript(src string) ([]andOr, error) {
	lx := &lexer{src: src, line: 1}
	var prog []andOr
	tok, err := lx.next()
	for err == nil && tok.kind != tokEOF {
		if tok.kind == tokSeparator {
			tok, err = lx.next()
			continue
		}
		var list andOr
		if list, tok, err = parseAndOr(lx, tok); err == nil {
			prog = append(prog, list)
		}
	}
	return prog, err
}

// parseAndOr parses commands joined by && and ||, starting at tok; it
// returns the token after the list.
func parseAndOr(lx *lexer, tok token) (andOr, token, error) {
	var list andOr
	for {
		c, next, err := parseCommand(lx, tok)
		if err != nil {
			return list, next, err
		}
		list.commands = append(list.commands, c)
		if next.kind != tokAnd && next.kind != tokOr {
			return list, next, nil
		}
		op := map[tokenKind]string{tokAnd: "&&", tokOr: "||"}[next.kind]
		list.ops = append(list.ops, op)
		// A command may follow on the next line.
		for tok, err = lx.next(); err == nil && tok.kind == tokSeparator && tok.newline; tok, err = lx.next() {
		}
		if err != nil {
			return list, tok, err
		}
	}
}

func parseCommand(lx *lexer, tok token) (simpleCommand, token, error) {
	var c simpleCommand
	var err error
	for ; err == nil && tok.kind == tokWord; tok, err = lx.next() {
		if len(c.words) == 0 {
			if a, ok := asAssignment(tok.word); ok {
				c.assigns = append(c.assigns, a)
				continue
			}
			if len(tok.word) == 1 && !tok.word[0].quoted && tok.word[0].param == "" && keywords[tok.word[0].text] {
				return c, tok, fmt.Errorf("line %d: %q: if, for, while and case are not supported by the toolbox shell (it runs ;, && and || lists)", tok.line, tok.word[0].text)
			}
		}
		c.words = append(c.words, tok.word)
	}
	if err != nil {
		return c, tok, err
	}
	if len(c.words) == 0 && len(c.assigns) == 0 {
		what := map[tokenKind]string{tokEOF: "end of script", tokSeparator: ";", tokAnd: "&&", tokOr: "||"}[tok.kind]
		if tok.newline {
			what = "newline"
		}
		return c, tok, fmt.Errorf("line %d: syntax error: a command is missing before %s", tok.line, what)
	}
	return c, tok, nil
}

// asAssignment reads NAME=VALUE, whose NAME= is unquoted literal text.
func asAssignment(w word) (assignment, bool) {
	if len(w) == 0 || w[0].quoted || w[0].param != "" {
		return assignment{}, false
	}
	name, value, ok := strings.Cut(w[0].text, "=")
	if !ok || !validName(name) {
		return assignment{}, false
	}
	var v word
	if value != "" {
		v = append(v, wordPart{text: value, quoted: true})
	}
	return assignment{name: name, value: append(v, w[1:]...)}, true
}
