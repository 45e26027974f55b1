package main

import (
	"fmt"
	"math/rand"
	"strings"
)

// The generator: random templates from a grammar of text/template, mostly
// well-formed (so that execution paths are reached), sometimes broken on
// purpose (so that parse errors are compared too). math/rand with a fixed
// seed gives the same cases on every run and every Go release.

var dataSets = []map[string]string{
	{},
	{"a": "abc", "b": "", "n": "42", "url": "https://github.com", "ref_type": "branch",
		"ref": "main", "sp ace": "x y", "dot.key": "dotted", "uni": "é€😀",
		"q": `<a href='x'>"&"</a>`, "nl": "line1\nline2", "neg": "-7", "f": "1.5",
		"oidc.circleci.com/project-id": "p-123", "true": "true"},
	{"a": "A", "b": "B", "c": "C"},
	{"x": "", "y": " ", "z": "0"},
}

var keys = []string{"a", "b", "n", "url", "ref", "ref_type", "uni", "q", "nl", "neg",
	"f", "x", "y", "z", "missing", "c"}

var quotedKeys = []string{"a", "sp ace", "dot.key", "oidc.circleci.com/project-id",
	"missing", "true", ""}

var stringLits = []string{`"abc"`, `""`, `"a\tb"`, `"\u00e9\x41\101"`, "`raw\\n`", `"%"`,
	`"branch"`, `"main"`, `"<&>"`, `"it's"`, `"a b"`, `"-"`, `"1.5"`, `"42"`, `"\U0001F600"`,
	"``", `"\""`, `"a\\b"`}

var numberLits = []string{"0", "1", "2", "3", "-1", "42", "0x1F", "0o17", "0b101", "017",
	"1_000", "1.5", "-2.25", "1e3", "1e21", "0.1", "'a'", "'\\n'", "'é'", "255", "256",
	"9223372036854775807", "18446744073709551615", "0x1p-2", "1.", ".5", "1e-7", "100000",
	"123456789.125", "-0"}

var verbs = []string{"v", "s", "q", "d", "x", "X", "t", "c", "U", "e", "E", "f", "F", "g",
	"G", "b", "o", "O", "T", "%", "w", "z"}

var flags = []string{"", "", "", "-", "+", "#", " ", "0", "-0", "+#", "# "}

type gen struct {
	r       *rand.Rand
	depth   int
	vars    []string
	inRange int
	defined []string
	nvar    int
}

func (g *gen) pick(s []string) string { return s[g.r.Intn(len(s))] }

func (g *gen) chance(n int) bool { return g.r.Intn(100) < n }

func (g *gen) format() string {
	var b strings.Builder
	b.WriteByte('"')
	for i, n := 0, 1+g.r.Intn(3); i < n; i++ {
		if g.chance(40) {
			b.WriteString(g.pick([]string{"x", "[", "] ", "-", " "}))
		}
		b.WriteByte('%')
		b.WriteString(g.pick(flags))
		if g.chance(30) {
			fmt.Fprintf(&b, "%d", g.r.Intn(12))
		} else if g.chance(5) {
			b.WriteString("*")
		}
		if g.chance(25) {
			fmt.Fprintf(&b, ".%d", g.r.Intn(8))
		}
		if g.chance(5) {
			fmt.Fprintf(&b, "[%d]", g.r.Intn(4))
		}
		b.WriteString(g.pick(verbs))
	}
	b.WriteByte('"')
	return b.String()
}

// operand: a term of a command.
func (g *gen) operand() string {
	if g.depth > 3 {
		return g.pick([]string{".", `"s"`, "1", ".a", "true"})
	}
	switch g.r.Intn(16) {
	case 0:
		return "."
	case 1, 2:
		return "." + g.pick(keys)
	case 3:
		if len(g.vars) > 0 && g.chance(85) {
			v := g.pick(g.vars)
			if g.chance(20) {
				return v + "." + g.pick(keys)
			}
			return v
		}
		return g.pick([]string{"$", "$.a", "$.missing", "$undefined"})
	case 4, 5:
		return g.pick(stringLits)
	case 6, 7:
		return g.pick(numberLits)
	case 8:
		return g.pick([]string{"true", "false", "nil"})
	case 9, 10, 11:
		g.depth++
		defer func() { g.depth-- }()
		return "(" + g.pipeline(false) + ")"
	case 12:
		g.depth++
		defer func() { g.depth-- }()
		return "(" + g.call() + ")." + g.pick(keys)
	default:
		g.depth++
		defer func() { g.depth-- }()
		return "(" + g.call() + ")"
	}
}

func (g *gen) args(min, max int) string {
	n := min + g.r.Intn(max-min+1)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = g.operand()
	}
	return strings.Join(parts, " ")
}

// call: a function and its arguments (sometimes the wrong number).
func (g *gen) call() string {
	fn := g.pick([]string{"index", "index", "slice", "len", "eq", "ne", "lt", "le", "gt",
		"ge", "and", "or", "not", "print", "printf", "printf", "println", "html", "js",
		"urlquery", "call"})
	switch fn {
	case "index":
		if g.chance(50) {
			return "index . " + g.pick([]string{`"a"`, `"sp ace"`, `"missing"`, `"dot.key"`,
				`"oidc.circleci.com/project-id"`, "1", "nil"})
		}
		return "index " + g.args(1, 3)
	case "slice":
		return "slice " + g.operand() + " " + g.pick([]string{"0", "1", "2", "-1", "5", `"a"`}) +
			g.pick([]string{"", " 2", " 3", " 1", " 0 1 2"})
	case "len", "not":
		return fn + " " + g.args(0, 2)
	case "eq":
		return "eq " + g.args(1, 3)
	case "ne", "lt", "le", "gt", "ge":
		return fn + " " + g.args(1, 3)
	case "and", "or":
		return fn + " " + g.args(0, 3)
	case "printf":
		if g.chance(90) {
			return "printf " + g.format() + " " + g.args(0, 3)
		}
		return "printf " + g.args(0, 2)
	default:
		return fn + " " + g.args(0, 3)
	}
}

func (g *gen) command() string {
	switch g.r.Intn(5) {
	case 0, 1:
		return g.call()
	default:
		return g.operand()
	}
}

// pipeline: declarations? command ('|' command)*
func (g *gen) pipeline(decl bool) string {
	var b strings.Builder
	if decl && g.chance(20) {
		if len(g.vars) > 0 && g.chance(30) {
			fmt.Fprintf(&b, "%s = ", g.pick(g.vars))
		} else {
			g.nvar++
			v := fmt.Sprintf("$v%d", g.nvar)
			fmt.Fprintf(&b, "%s := ", v)
			defer func() { g.vars = append(g.vars, v) }()
		}
	}
	b.WriteString(g.command())
	for g.chance(20) {
		b.WriteString(" | ")
		b.WriteString(g.pick([]string{"printf \"%v|\"", "print", "len", "html", "urlquery",
			"js", "not", "eq \"x\"", "index .", "println", "printf \"%s\" 1", "slice", ".a",
			"and 1", "or 0"}))
	}
	return b.String()
}

func (g *gen) open() string {
	if g.chance(15) {
		return "{{- "
	}
	return g.pick([]string{"{{", "{{ ", "{{  "})
}

func (g *gen) close() string {
	if g.chance(15) {
		return " -}}"
	}
	return g.pick([]string{"}}", " }}", "\n}}"})
}

func (g *gen) text() string {
	return g.pick([]string{"x", " ", "\n", "  y  ", "-", "/", "é", "a b", "\t", "}}", "{", ""})
}

// control: if / with / range with optional else chains.
func (g *gen) control(list func() string) string {
	var b strings.Builder
	kw := g.pick([]string{"if", "if", "with", "range"})
	saved := len(g.vars)
	b.WriteString(g.open() + kw + " ")
	if kw == "range" {
		switch {
		case g.chance(40):
			g.nvar += 2
			k, v := fmt.Sprintf("$k%d", g.nvar-1), fmt.Sprintf("$e%d", g.nvar)
			fmt.Fprintf(&b, "%s, %s := ", k, v)
			g.vars = append(g.vars, k, v)
		case g.chance(30):
			g.nvar++
			v := fmt.Sprintf("$e%d", g.nvar)
			fmt.Fprintf(&b, "%s := ", v)
			g.vars = append(g.vars, v)
		}
		b.WriteString(g.pick([]string{".", ".", "3", "0", "-2", "(len .a)", "(len .n)", ".a",
			"true", "(and nil 1)", "1.5", "$"}))
		g.inRange++
	} else {
		b.WriteString(g.pipeline(true))
	}
	b.WriteString(g.close())
	b.WriteString(list())
	if kw == "range" {
		g.inRange--
	}
	for g.chance(25) && kw != "range" {
		b.WriteString(g.open() + "else " + kw + " " + g.pipeline(false) + g.close())
		b.WriteString(list())
	}
	if g.chance(30) {
		b.WriteString(g.open() + "else" + g.close() + list())
	}
	b.WriteString(g.open() + "end" + g.close())
	g.vars = g.vars[:saved]
	return b.String()
}

func (g *gen) item() string {
	g.depth++
	defer func() { g.depth-- }()
	if g.depth > 4 {
		return g.text()
	}
	switch g.r.Intn(20) {
	case 0, 1, 2, 3:
		return g.text()
	case 4, 5, 6, 7, 8, 9:
		return g.open() + g.pipeline(true) + g.close()
	case 10, 11, 12, 13:
		return g.control(g.list)
	case 14:
		return g.open() + "/* " + g.pick([]string{"c", "x}}", "{{"}) + " */" + g.close()
	case 15:
		if g.inRange > 0 {
			return g.open() + g.pick([]string{"break", "continue"}) + g.close()
		}
		return g.text()
	case 16:
		if len(g.defined) > 0 {
			name := g.pick(g.defined)
			if g.chance(60) {
				return g.open() + "template \"" + name + "\" " + g.operand() + g.close()
			}
			return g.open() + "template \"" + name + "\"" + g.close()
		}
		return g.text()
	case 17:
		saved := g.vars
		inRange := g.inRange
		g.vars, g.inRange = nil, 0
		body := g.list()
		g.vars, g.inRange = saved, inRange
		return g.open() + "block \"blk\" " + g.operand() + g.close() + body +
			g.open() + "end" + g.close()
	default:
		return g.open() + g.pipeline(true) + g.close()
	}
}

func (g *gen) list() string {
	var b strings.Builder
	for i, n := 0, g.r.Intn(4); i < n; i++ {
		b.WriteString(g.item())
	}
	return b.String()
}

// mutate breaks a template at random: a cut, a doubled or dropped brace,
// a stray keyword.
func (g *gen) mutate(s string) string {
	if len(s) < 2 {
		return s + "{{"
	}
	i := g.r.Intn(len(s))
	switch g.r.Intn(5) {
	case 0:
		return s[:i]
	case 1:
		return s[:i] + s[i+1:]
	case 2:
		return s[:i] + "{{" + s[i:]
	case 3:
		return s[:i] + "}}" + s[i:]
	default:
		return s[:i] + g.pick([]string{"{{end}}", "{{else}}", "$", "(", ")", "|", "\"", ":=",
			"{{define \"d\"}}", "{{range}}"}) + s[i:]
	}
}

func (g *gen) template() string {
	g.vars = nil
	g.defined = nil
	g.depth = 0
	var b strings.Builder
	if g.chance(25) {
		name := g.pick([]string{"t", "u", ""})
		body := g.list()
		fmt.Fprintf(&b, "{{define %q}}%s{{end}}", name, body)
		g.defined = append(g.defined, name)
	}
	b.WriteString(g.list())
	if b.Len() == 0 || g.chance(50) {
		b.WriteString(g.open() + g.pipeline(true) + g.close())
	}
	s := b.String()
	if g.chance(12) {
		s = g.mutate(s)
	}
	return s
}

// generate builds n cases.
func generate(n int, seed int64) []*testCase {
	g := &gen{r: rand.New(rand.NewSource(seed))}
	cases := make([]*testCase, 0, n)
	for i := 0; i < n; i++ {
		data := dataSets[g.r.Intn(len(dataSets))]
		if g.chance(60) {
			data = dataSets[1]
		}
		cases = append(cases, &testCase{
			Name:     fmt.Sprintf("gen-%d-%d", seed, i),
			Template: g.template(),
			Data:     data,
		})
	}
	return cases
}
