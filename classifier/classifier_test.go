package classifier

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		in       Input
		class    string
		priority int
		valid    bool
		rules    []string
	}{
		{"query", Input{Category: "query", Subcategory: "billing", Caller: "18912345678"},
			ClassQuery, 4, true, []string{"base_category"}},
		{"fault", Input{Category: "fault_report", Subcategory: "broadband", Caller: "18912345678", ServiceNumber: "02012345678"},
			ClassFaultReport, 3, true, []string{"base_category"}},
		{"complaint", Input{Category: "complaint", Subcategory: "network", Caller: "18912345678"},
			ClassComplaint, 2, true, []string{"base_category"}},
		{"media involved", Input{Category: "complaint", Subcategory: "service", Caller: "18912345678", EscalationTendency: true},
			ClassMajorComplaint, 1, true, []string{"base_category", "escalation_tendency"}},
		{"tendency flag on a query does not make it a complaint", Input{Category: "query", Subcategory: "billing", Caller: "18912345678", EscalationTendency: true},
			ClassQuery, 4, true, []string{"base_category"}},
		{"anonymous", Input{Category: "complaint", Subcategory: "service", Caller: "anonymous"},
			ClassComplaint, 2, false, []string{"base_category", "invalid_anonymous"}},
		{"anonymous with service number", Input{Category: "complaint", Subcategory: "service", Caller: "", ServiceNumber: "18912345678"},
			ClassComplaint, 2, true, []string{"base_category"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Classify(tc.in)
			if d.Class != tc.class || d.Priority != tc.priority || d.Valid != tc.valid {
				t.Fatalf("got %s/%d/valid=%v, want %s/%d/valid=%v", d.Class, d.Priority, d.Valid, tc.class, tc.priority, tc.valid)
			}
			if len(d.Reasons) != len(tc.rules) {
				t.Fatalf("reasons %+v, want rules %v", d.Reasons, tc.rules)
			}
			for i, r := range d.Reasons {
				if r.Rule != tc.rules[i] || r.Detail == "" {
					t.Errorf("reason %d = %+v, want rule %s with a detail", i, r, tc.rules[i])
				}
			}
		})
	}
}
