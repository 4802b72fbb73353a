package configs

import (
	"errors"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{Msg: "file is larger than 4 bytes"}, "file is larger than 4 bytes"},
		{Error{Path: "sip.listen", Msg: "required"}, "sip.listen: required"},
		{Error{File: "p.yaml", Path: "policies[2].ladder[0].after", Msg: "must be 0s", Line: 31},
			"p.yaml: policies[2].ladder[0].after: must be 0s (line 31)"},
		{Error{File: "c.yaml", Msg: "and 3 more problems"}, "c.yaml: and 3 more problems"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}

const keyPathDoc = `a:
  b: 1
  list:
    - x
    - {y: 2, z: 3}
c: [1, 2]
`

func TestKeyLines(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(keyPathDoc), &root); err != nil {
		t.Fatal(err)
	}
	l := NewKeyLines(&root)
	for path, want := range map[string]int{
		"a": 1, "a.b": 2, "a.list": 3, "a.list[0]": 4, "a.list[1]": 5, "a.list[1].z": 5, "c": 6, "c[1]": 6,
		"a.missing": 1, "a.list[1].w": 5, "nowhere": 0, "": 0,
	} {
		if got := l.Line(path); got != want {
			t.Errorf("Line(%q) = %d, want %d", path, got, want)
		}
	}
	// A line with several keys maps to the first.
	if l.ByLine[5] != "a.list[1]" || l.ByLine[2] != "a.b" {
		t.Errorf("ByLine %v", l.ByLine)
	}
}

func TestSplitYAMLErrorAndKeyPathMessage(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(keyPathDoc), &root); err != nil {
		t.Fatal(err)
	}
	var into struct {
		A struct {
			B    []int `yaml:"b"`
			List []int `yaml:"list"`
		} `yaml:"a"`
		C []int `yaml:"c"`
	}
	err := yaml.Unmarshal([]byte(keyPathDoc), &into)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		t.Fatalf("want a type error, got %v", err)
	}
	got := SplitYAMLError(err)
	if len(got) != 3 || got[0].Line != 2 || got[1].Line != 4 || got[2].Line != 5 {
		t.Fatalf("SplitYAMLError = %+v", got)
	}
	want := "a.b: cannot unmarshal !!int `1` into []int (line 2); " +
		"a.list[0]: cannot unmarshal !!str `x` into int (line 4); " +
		"a.list[1]: cannot unmarshal !!map into int (line 5)"
	if msg := KeyPathMessage(err, &root); msg != want {
		t.Errorf("KeyPathMessage:\n %s\nwant\n %s", msg, want)
	}
	// A message without a line stays as it is, without yaml's prefix.
	if got := SplitYAMLError(errors.New("yaml: did not find expected key")); !slices.Equal(got, []YAMLProblem{{Msg: "did not find expected key"}}) {
		t.Errorf("no line: %+v", got)
	}
	if got := SplitYAMLError(errors.New("yaml: line 3: mapping values are not allowed in this context")); !slices.Equal(got,
		[]YAMLProblem{{Line: 3, Msg: "mapping values are not allowed in this context"}}) {
		t.Errorf("syntax error: %+v", got)
	}
}
