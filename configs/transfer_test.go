package configs

import "testing"

// Leaves name a queue at the contact centre; HOTLINED_ACD_URI moves the
// contact centre, HOTLINED_TRANSFER_MODE beats every leaf's mode.
func TestTransferTargetAndMode(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        map[string]string
		leaf       Leaf
		wantTarget string
		wantMode   string
	}{
		{"shipped placeholder, bridge", nil, Leaf{Queue: "complaint"}, "sip:complaint@acd.hotline.invalid", TransferBridge},
		{"env contact centre", map[string]string{"HOTLINED_ACD_URI": "sip:10.1.2.3:5070;transport=tcp"},
			Leaf{Queue: "fault"}, "sip:fault@10.1.2.3:5070;transport=tcp", TransferBridge},
		{"leaf mode", nil, Leaf{Queue: "fault", TransferMode: TransferRefer}, "sip:fault@acd.hotline.invalid", TransferRefer},
		{"env mode beats the leaf's", map[string]string{"HOTLINED_TRANSFER_MODE": "bridge"},
			Leaf{Queue: "fault", TransferMode: TransferRefer}, "sip:fault@acd.hotline.invalid", TransferBridge},
		{"whole URI beats the queue", nil, Leaf{Queue: "fault", Transfer: "sip:desk@pbx.example.com"}, "sip:desk@pbx.example.com", TransferBridge},
		{"no target", nil, Leaf{}, "", TransferBridge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("hotlined.yaml", func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			target, mode := cfg.Transfer(&tc.leaf)
			if target != tc.wantTarget || mode != tc.wantMode {
				t.Errorf("Transfer = %q, %q; want %q, %q", target, mode, tc.wantTarget, tc.wantMode)
			}
		})
	}
	if _, err := Load("hotlined.yaml", func(k string) (string, bool) {
		return map[string]string{"HOTLINED_TRANSFER_MODE": "blind"}[k], k == "HOTLINED_TRANSFER_MODE"
	}); err == nil {
		t.Error("HOTLINED_TRANSFER_MODE=blind loaded")
	}
}
