// gorender: the reference side of fulcrum's template differential test.
//
// It renders templates the way Fulcio does (pkg/identity/ciprovider):
// text/template, Option("missingkey=error"), executed over a
// map[string]string, and prints each case with Go's outcome as JSON:
//
//	gorender -cases FILE        cases from FILE: [{"name", "template", "data", ...}]
//	gorender -gen N -seed S     N templates built from a grammar (deterministic)
//	gorender -matrix            printf: every verb and flag over every kind of value
//	gorender -unicode           the rune tables of config/template_unicode.c
//
// Each output case is the input case plus "result" ("ok", "parse" or
// "exec") and, for "ok", "out_hex" (the output bytes in hex). A case
// without "data" gets defaultData (written out with the case). A template
// may also be given as "template_hex" for bytes that are not UTF-8.
// "unsupported" and "fulcrum_exec_error" mark the cases where fulcrum
// differs on purpose; they are passed through for the C side.
//
// Only the standard library is used, so `go build` needs no network.
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/template"
	"unicode/utf8"
)

type testCase struct {
	Name        string            `json:"name"`
	Template    string            `json:"template,omitempty"`
	TemplateHex string            `json:"template_hex,omitempty"`
	Data        map[string]string `json:"data"`
	Unsupported bool              `json:"unsupported,omitempty"`
	FulcrumExec bool              `json:"fulcrum_exec_error,omitempty"`
	Result      string            `json:"result"`
	OutHex      string            `json:"out_hex,omitempty"`
	GoError     string            `json:"go_error,omitempty"`
}

// defaultData is the claim map of the cases that give none.
var defaultData = map[string]string{
	"a": "abc", "b": "", "n": "42", "f": "1.5", "neg": "-7", "url": "https://github.com",
	"ref": "main", "ref_type": "branch", "sp ace": "x y", "dot.key": "dotted",
	"uni": "h\u00e9llo \u20ac\U0001F600", "q": `<a href='x'>"&"</a>`, "nl": "l1\nl2\tend",
	"true": "true", "zero": "0", "oidc.circleci.com/project-id": "p-123",
	"ctl": "\x01\x7f", "pct": "100%", "bs": `a\b`,
}

// printfMatrix: printf with each verb (and flags, width, precision) over
// each kind of value a template can pass.
func printfMatrix() []*testCase {
	args := []string{".a", ".b", ".uni", ".q", ".ctl", ".nl", "42", "-42", "0", "(index .a 0)",
		"3.14159", "-2.5", "1e21", "1e-7", "true", "nil", ".", "'\u00e9'",
		"9223372036854775807", "-9223372036854775808"}
	verbs := []string{"%v", "%+v", "%#v", "%T", "%s", "%q", "%+q", "%#q", "%x", "%X", "% x",
		"%#x", "% #x", "%d", "%+d", "% d", "%b", "%o", "%O", "%#o", "%c", "%U", "%#U", "%t",
		"%e", "%E", "%f", "%F", "%g", "%G", "%.2f", "%.0f", "%.3e", "%.3g", "%#g", "%#.3g",
		"%5s", "%-5s", "%05s", "%5d", "%-5d", "%05d", "%+05d", "%.3d", "%8.3f", "%-8.3f|",
		"%08.3f", "%+.1e", "%#X", "%.2s", "%.1q", "%10.2q", "%5t", "%p", "%w", "%5v",
		"%-10v|", "%3c", "%-4q|", "%#b", "%.0d", "%5.0d", "%6.2x", "%#8x", "%08q", "%.10U",
		"%#.1f", "%#.0e", "% 08.2f", "%-+8.2e|", "%#5.1x", "%y"}
	var cases []*testCase
	for _, a := range args {
		for _, v := range verbs {
			c := &testCase{
				Name:     fmt.Sprintf("matrix %s %s", v, a),
				Template: fmt.Sprintf("{{printf %q %s}}", v, a),
			}
			// %p of the map prints an address: fulcrum refuses it.
			c.FulcrumExec = v == "%p" && a == "."
			cases = append(cases, c)
		}
	}
	return cases
}

// render is applyTemplateOrReplace's template branch.
func render(c *testCase) {
	text := c.Template
	if c.TemplateHex != "" {
		b, err := hex.DecodeString(c.TemplateHex)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gorender: %s: bad template_hex\n", c.Name)
			os.Exit(2)
		}
		text = string(b)
	}
	t, err := template.New("").Option("missingkey=error").Parse(text)
	if err != nil {
		c.Result, c.GoError = "parse", err.Error()
		return
	}
	var doc bytes.Buffer
	if err := t.Execute(&doc, c.Data); err != nil {
		c.Result, c.GoError = "exec", err.Error()
		return
	}
	c.Result, c.OutHex = "ok", hex.EncodeToString(doc.Bytes())
}

func main() {
	casesFile := flag.String("cases", "", "JSON file of cases")
	gen := flag.Int("gen", 0, "number of generated cases")
	seed := flag.Int64("seed", 1, "seed of the generator")
	uni := flag.Bool("unicode", false, "print the rune tables as C")
	matrix := flag.Bool("matrix", false, "printf verbs over every kind of value")
	flag.Parse()

	if *uni {
		printUnicodeTables(os.Stdout)
		return
	}
	var cases []*testCase
	switch {
	case *casesFile != "":
		b, err := os.ReadFile(*casesFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gorender:", err)
			os.Exit(2)
		}
		if err := json.Unmarshal(b, &cases); err != nil {
			fmt.Fprintln(os.Stderr, "gorender:", *casesFile, err)
			os.Exit(2)
		}
	case *gen > 0:
		cases = generate(*gen, *seed)
	case *matrix:
		cases = printfMatrix()
	default:
		flag.Usage()
		os.Exit(2)
	}
	for _, c := range cases {
		if c.Data == nil {
			c.Data = defaultData
		}
		render(c)
		// JSON strings hold UTF-8 only: other bytes go as hex.
		if !utf8.ValidString(c.Template) {
			c.TemplateHex, c.Template = hex.EncodeToString([]byte(c.Template)), ""
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(cases); err != nil {
		fmt.Fprintln(os.Stderr, "gorender:", err)
		os.Exit(2)
	}
}
