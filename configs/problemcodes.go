package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// ProblemCodes is the unified complaint code table (全网统一投诉编码, 003
// §2.1.2, DOMAIN.md "the problem code"): two levels, a group (billing,
// network, service, ...) and a code within it, each with a Chinese and an
// English label. A code is written group.code (billing.overcharge). Group
// complaints count per (province, problem code) and a contact urges an open
// order only for the same code. Build it with LoadProblemCodes or
// ParseProblemCodes.
type ProblemCodes struct {
	// Groups in file order.
	Groups []ProblemGroup
	index  map[string]ProblemCode
}

// ProblemGroup is the first level of the table.
type ProblemGroup struct {
	Name  string
	Label Label
	Codes []ProblemCode
}

// ProblemCode is one code of the table.
type ProblemCode struct {
	// Code is the full code, group.name.
	Code  string
	Label Label
}

// Label is a name in Chinese and English.
type Label struct {
	ZH string `yaml:"zh" json:"zh"`
	EN string `yaml:"en" json:"en"`
}

type problemGroupFile struct {
	Label Label            `yaml:"label"`
	Codes map[string]Label `yaml:"codes"`
}

// MaxProblemCodes caps the table.
const MaxProblemCodes = 10000

var problemCodeRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,39}$`)

// ValidProblemCode reports whether s has the form of a problem code,
// group.code in lower-case letters, digits and _ (at most 40 each).
func ValidProblemCode(s string) bool { return problemCodeRe.MatchString(s) }

// LoadProblemCodes reads and validates the table at path. Errors are
// *Error values naming the file and the key path.
func LoadProblemCodes(path string) (*ProblemCodes, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read problem codes: %w", err)
	}
	t, err := ParseProblemCodes(data)
	if err != nil {
		return nil, InFile(err, path)
	}
	return t, nil
}

// ParseProblemCodes decodes a table strictly: a mapping of group name to
// {label: {zh, en}, codes: {name: {zh, en}}}, in file order; unknown keys,
// a missing label, a bad name or an empty group are errors naming the key
// path.
func ParseProblemCodes(data []byte) (*ProblemCodes, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{Msg: "want a mapping of problem-code groups (billing: {label, codes})"}
	}
	var file map[string]problemGroupFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return nil, &Error{Msg: KeyPathMessage(err, &root)}
	}
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, &Error{Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	label := func(path string, l Label) {
		if strings.TrimSpace(l.ZH) == "" || strings.TrimSpace(l.EN) == "" {
			bad(path, "both zh and en labels are required")
		}
	}
	t := &ProblemCodes{index: map[string]ProblemCode{}}
	top := root.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 { // the nodes keep the file's order
		name, body := top.Content[i].Value, top.Content[i+1]
		g := file[name]
		if !nameRe.MatchString(name) || len(name) > 40 {
			bad(name, "group names are lower-case letters, digits and _ (at most 40)")
		}
		label(name+".label", g.Label)
		grp := ProblemGroup{Name: name, Label: g.Label}
		var codes *yaml.Node
		for j := 0; j+1 < len(body.Content); j += 2 {
			if body.Content[j].Value == "codes" {
				codes = body.Content[j+1]
			}
		}
		if codes == nil || len(g.Codes) == 0 {
			bad(name+".codes", "at least one code is required")
			continue
		}
		for j := 0; j+1 < len(codes.Content); j += 2 {
			cname := codes.Content[j].Value
			path := name + ".codes." + cname
			code := name + "." + cname
			if !ValidProblemCode(code) {
				bad(path, "code names are lower-case letters, digits and _ (at most 40)")
			}
			l := g.Codes[cname]
			label(path, l)
			pc := ProblemCode{Code: code, Label: l}
			t.index[code] = pc
			grp.Codes = append(grp.Codes, pc)
		}
		t.Groups = append(t.Groups, grp)
	}
	if len(t.index) > MaxProblemCodes {
		bad("", "more than %d codes", MaxProblemCodes)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// Lookup returns the code's entry; false when the table has no such code.
func (t *ProblemCodes) Lookup(code string) (ProblemCode, bool) {
	if t == nil {
		return ProblemCode{}, false
	}
	pc, ok := t.index[code]
	return pc, ok
}

// Len is the number of codes.
func (t *ProblemCodes) Len() int {
	if t == nil {
		return 0
	}
	return len(t.index)
}

// DefaultProblemCode is the problem code of the first leaf (in menu and key
// order, the default menu first) with the category and subcategory, for a
// contact from another channel that names none; "" when no leaf has them.
func (c *Config) DefaultProblemCode(category, subcategory string) string {
	var found string
	var walk func(n *Node) bool
	walk = func(n *Node) bool {
		if n == nil {
			return false
		}
		if n.Category != "" {
			if n.Category == category && n.Subcategory == subcategory && n.ProblemCode != "" {
				found = n.ProblemCode
				return true
			}
			return false
		}
		for _, k := range sortedKeys(n.Options) {
			if walk(n.Options[k]) {
				return true
			}
		}
		return false
	}
	names := sortedKeys(c.Menus)
	if _, ok := c.Menus["default"]; ok {
		names = append([]string{"default"}, names...)
	}
	for _, name := range names {
		if walk(c.Menus[name]) {
			return found
		}
	}
	return ""
}
