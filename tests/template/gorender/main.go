// gorender: the reference side of fulcrum's template differential test.
//
// It renders templates the way Fulcio does (pkg/identity/ciprovider):
// text/template, Option("missingkey=error"), executed over a
// map[string]string, and prints each case with Go's outcome as JSON:
//
//	gorender -cases FILE        cases from FILE: [{"name", "template", "data", ...}]
//	gorender -gen N -seed S     N templates built from a grammar (deterministic)
//	gorender -unicode           the rune tables of config/template_unicode.c
//
// Each output case is the input case plus "result" ("ok", "parse" or
// "exec") and, for "ok", "out_hex" (the output bytes in hex). A template may
// also be given as "template_hex" for bytes that are not UTF-8.
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
	Result      string            `json:"result"`
	OutHex      string            `json:"out_hex,omitempty"`
	GoError     string            `json:"go_error,omitempty"`
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
	default:
		flag.Usage()
		os.Exit(2)
	}
	for _, c := range cases {
		if c.Data == nil {
			c.Data = map[string]string{}
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
