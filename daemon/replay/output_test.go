package replay

import (
	"strings"
	"testing"
)

func TestTopFields(t *testing.T) {
	str := func(p *string) string {
		if p == nil {
			return "<none>"
		}
		return *p
	}
	for _, tc := range []struct{ name, data, want, err string }{
		{"all, nested values skipped", `{"id":"WO-1","reasons":[{"rule":"r","x":{"y":[1,2]}}],"class":"complaint","n":3,"status":"new","history":[]}`,
			"WO-1 complaint new", ""},
		{"stops once it has them", `{"status":"resolved","class":"query","id":"WO-2","history":[not json`, "WO-2 query resolved", ""},
		{"a field view without class", `{"id":"WO-3","status":"accepted"}`, "WO-3 <none> accepted", ""},
		{"escaped", `{"id":"WO-\u0034","class":"a\"b","status":"x"}`, `WO-4 a"b x`, ""},
		{"not an object", `["id"]`, "", "want a JSON object"},
		{"not a string", `{"id":7}`, "", "id: json: cannot unmarshal number"},
		{"truncated", `{"id":"WO-5","cl`, "", "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := topFields([]byte(tc.data), "id", "class", "status")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := str(got[0]) + " " + str(got[1]) + " " + str(got[2]); s != tc.want {
				t.Errorf("got %s, want %s", s, tc.want)
			}
		})
	}
}
