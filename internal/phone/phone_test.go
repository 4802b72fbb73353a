package phone

import (
	"strings"
	"testing"
)

func TestNational(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"18912345678", "18912345678"},
		{"+8618902001111", "18902001111"},  // issue 12 input 1
		{"008618902001113", "18902001113"}, // issue 12 input 1
		{"8618902001112", "18902001112"},   // issue 12 input 1
		{"+86 189 0200 1111", "18902001111"},
		{"+86-189-0200-1111", "18902001111"},
		{"+86 20 1234 5678", "02012345678"}, // DESIGN "Numbers"
		{"+86 (20) 1234.5678", "02012345678"},
		{"862012345678", "02012345678"},
		{"+86 10 1234 5678", "01012345678"}, // Beijing, area code 10
		{"+86 755 1234 5678", "075512345678"},
		{"+86 571 123 4567", "05711234567"},  // 3-digit area code, 7-digit local
		{"+86 020 1234 5678", "02012345678"}, // trunk 0 written after +86
		{"+8610000", "10000"},
		{"+86 400 881 0000", "4008810000"},
		{"+8612300", "12300"},
		{"10000", "10000"},
		{"4008810000", "4008810000"},
		{"02012345678", "02012345678"},
		{"86123456", "86123456"},         // a local number that starts with 86
		{"+12125551234", "+12125551234"}, // foreign: kept international
		{"0012125551234", "+12125551234"},
		{"", ""},
		{"anonymous", ""},
		{"Anonymous", ""},
		{"+", ""},
		{"1891234567a", ""},
		{"++8618912345678", ""},
		{strings.Repeat("1", 21), ""},
	} {
		if got := National(tc.in); got != tc.want {
			t.Errorf("National(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFromURI(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<tel:18902002221>", "18902002221"}, // issue 12 input 2
		{"<tel:+86-189-0200-2221>", "18902002221"},
		{"tel:+8618902002221", "18902002221"},
		{`"Zhang San" <sip:+8618912345678@sbc.example.net;user=phone>;tag=abc`, "18912345678"},
		{"<sip:18912345678@10.0.0.1>", "18912345678"},
		{"sip:18912345678@10.0.0.1:5060;transport=tcp", "18912345678"},
		{"sip:18912345678:secret@10.0.0.1", "18912345678"},
		{"sip:%2B8618912345678@sbc", "18912345678"},
		{"tel:10000;phone-context=ims.mnc011.mcc460.3gppnetwork.org", "10000"},                        // issue 12 input 5
		{"sip:10000;phone-context=ims.mnc011.mcc460.3gppnetwork.org@ims.example;user=phone", "10000"}, // issue 12 input 5
		{"tel:10000;phone-context=+86", "10000"},
		{"tel:12345678;phone-context=+86-20", "02012345678"},
		{"tel:18912345678;phone-context=+86", "18912345678"},
		{"<sip:anonymous@anonymous.invalid>", ""},
		{`"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1`, ""},
		{"<sip:sbc.example.net>", ""},
		{"<tel:18912345678", ""},
		{"mailto:a@b", ""},
		{"+8618912345678", "18912345678"},
	} {
		if got := FromURI(tc.in); got != tc.want {
			t.Errorf("FromURI(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"18912345678", "189****5678"},
		{"02012345678", "020****5678"},
		{"10000", "****"},
		{"4008810000", "****0000"},
		{"12345678", "****5678"},
		{"", ""},
	} {
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskText(t *testing.T) {
	in := "INVITE sip:10000@h SIP/2.0\r\nFrom: <sip:+8618912345678@h>;tag=12\r\nP-Asserted-Identity: <tel:020-12345678>\r\nCSeq: 1 INVITE"
	want := "INVITE sip:10000@h SIP/2.0\r\nFrom: <sip:+861****5678@h>;tag=12\r\nP-Asserted-Identity: <tel:020-****5678>\r\nCSeq: 1 INVITE"
	if got := MaskText(in); got != want {
		t.Errorf("MaskText =\n%q\nwant\n%q", got, want)
	}
}

// FuzzFromURI: no input panics, and what comes out is "" or a number in
// national form (digits) or international form (+digits), and normalising
// it again changes nothing.
func FuzzFromURI(f *testing.F) {
	for _, s := range []string{"<tel:18902002221>", "sip:10000;phone-context=+86@h;user=phone", "+86 20 1234 5678",
		"tel:12345678;phone-context=+86-20", "anonymous", "<sip:%2B86189@x>", "00862012345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := FromURI(s)
		if n == "" {
			return
		}
		digits := strings.TrimPrefix(n, "+")
		if digits == "" || !allDigits(digits) {
			t.Fatalf("FromURI(%q) = %q: not a number", s, n)
		}
		if again := National(n); again != n {
			t.Fatalf("National(%q) = %q: not a fixed point (from %q)", n, again, s)
		}
		if m := MaskText(n); len(digits) >= minRun && strings.Contains(m, digits) {
			t.Fatalf("MaskText(%q) left it whole", n)
		}
	})
}
