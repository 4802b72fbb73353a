package testenv

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hotlined/hotlined/queue"
)

// Schemas validates event data against the schemas in queue.Schemas.
type Schemas struct {
	byType map[string]*jsonschema.Schema
}

const schemaBase = "https://hotlined.invalid/schemas/"

// LoadSchemas compiles every schema in queue.Schemas.
func LoadSchemas(t testing.TB) *Schemas {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	names, err := fs.Glob(queue.Schemas, "schemas/*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("no schemas: %v", err)
	}
	for _, n := range names {
		data, _ := fs.ReadFile(queue.Schemas, n)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if err := c.AddResource(schemaBase+path.Base(n), doc); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	s := &Schemas{byType: map[string]*jsonschema.Schema{}}
	for _, n := range names {
		typ, ok := strings.CutSuffix(path.Base(n), ".schema.json")
		if !ok || !strings.HasPrefix(typ, "hotline.") {
			continue
		}
		sch, err := c.Compile(schemaBase + path.Base(n))
		if err != nil {
			t.Fatalf("compile %s: %v", n, err)
		}
		s.byType[typ] = sch
	}
	return s
}

// Types are the event types with a schema.
func (s *Schemas) Types() []string {
	var out []string
	for k := range s.byType {
		out = append(out, k)
	}
	return out
}

// Validate checks data against the schema of ceType.
func (s *Schemas) Validate(ceType string, data []byte) error {
	sch, ok := s.byType[ceType]
	if !ok {
		return fmt.Errorf("no schema for event type %q", ceType)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: not JSON: %w", ceType, err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s: %w", ceType, err)
	}
	return nil
}
