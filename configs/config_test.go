package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func noEnv(string) (string, bool) { return "", false }

func TestShippedConfigLoads(t *testing.T) {
	cfg, err := Load("hotlined.yaml", noEnv)
	if err != nil {
		t.Fatalf("shipped config: %v", err)
	}
	h, ok := cfg.Hotline("10000")
	if !ok || h.Tier != "province" || h.Province != "GD" {
		t.Fatalf("hotline 10000 = %+v, %v", h, ok)
	}
	for _, n := range []string{"4008810000", "12300"} {
		if h, ok := cfg.Hotline(n); !ok || h.Province != ProvinceFromCaller {
			t.Errorf("hotline %s = %+v, %v", n, h, ok)
		}
	}
	leaf := cfg.Menus["default"].Options["4"].Options["4"]
	if leaf.Category != "complaint" || leaf.Subcategory != "service" || !leaf.PublicOpinionRisk || leaf.EscalationTendency {
		t.Errorf("menu 4 4 (media) = %+v", leaf.Leaf)
	}
	leaf = cfg.Menus["default"].Options["4"].Options["5"]
	if leaf.Category != "complaint" || !leaf.EscalationTendency || leaf.PublicOpinionRisk {
		t.Errorf("menu 4 5 (regulator) = %+v", leaf.Leaf)
	}
	if pc, ok := cfg.ProblemCodes.Lookup("billing.overcharge"); !ok || pc.Label.ZH == "" || pc.Label.EN == "" {
		t.Errorf("problem code billing.overcharge = %+v, %v", pc, ok)
	}
	if n := cfg.ProblemCodes.Len(); n < 20 {
		t.Errorf("shipped problem-code table has %d codes", n)
	}
	if got := cfg.ProvinceOf("075512345678"); got != "GD" {
		t.Errorf("ProvinceOf(0755...) = %s", got)
	}
	if got := cfg.ProvinceOf("13900000000"); got != "XX" {
		t.Errorf("ProvinceOf(unknown) = %s", got)
	}
	// The national area-code table: a four-digit code inside another
	// province's range, a three-digit range, the municipalities.
	for number, want := range map[string]string{"089866123456": "HI", "089112345678": "XZ", "031112345678": "HE",
		"066812345678": "GD", "075712345678": "GD", "01012345678": "BJ", "02312345678": "CQ", "099112345678": "XJ",
		"18910001234": "BJ"} {
		if got := cfg.ProvinceOf(number); got != want {
			t.Errorf("ProvinceOf(%s) = %s, want %s", number, got, want)
		}
	}
}

// TestTestdata loads each testdata/*.yaml: good_*.yaml must load, every other
// file must fail with the message in its first line ("# want: ...").
func TestTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) < 10 {
		t.Fatalf("testdata: %v files, %v", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, loadErr := Load(f, noEnv)
			if strings.HasPrefix(filepath.Base(f), "good_") {
				if loadErr != nil {
					t.Fatalf("want success, got %v", loadErr)
				}
				return
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("first line must be '# want: <error text>'")
			}
			if loadErr == nil {
				t.Fatalf("want error containing %q, got success", want)
			}
			if !strings.Contains(loadErr.Error(), want) {
				t.Fatalf("error %q\n does not contain %q", loadErr, want)
			}
			if !strings.Contains(loadErr.Error(), f) {
				t.Errorf("error %q does not name the file", loadErr)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{
		"HOTLINED_SIP_LISTEN":    "udp:127.0.0.1:15060, tcp:127.0.0.1:15061",
		"HOTLINED_HTTP_LISTEN":   "127.0.0.1:18080",
		"HOTLINED_REDIS_ADDR":    "127.0.0.1:6390, 127.0.0.1:6391,127.0.0.1:6392",
		"HOTLINED_KAFKA_BROKERS": "127.0.0.1:9093,127.0.0.1:9094",
		"HOTLINED_LOG_LEVEL":     "debug",
		"HOTLINED_API_TOKENS":    "agent:a1,system:s1",

		"HOTLINED_KAFKA_EMBEDDED_LISTEN": "127.0.0.1:19092",
	}
	cfg, err := Load("hotlined.yaml", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.SIP.Listen) != 2 || cfg.SIP.Listen[1] != "tcp:127.0.0.1:15061" {
		t.Errorf("sip.listen = %v", cfg.SIP.Listen)
	}
	if cfg.HTTP.Listen != "127.0.0.1:18080" || cfg.Log.Level != "debug" {
		t.Errorf("http/log = %s %s", cfg.HTTP.Listen, cfg.Log.Level)
	}
	if got := cfg.Redis.Servers(); len(got) != 3 || got[1] != "127.0.0.1:6391" || cfg.Redis.Mode() != "cluster" {
		t.Errorf("redis servers = %q, mode %s", got, cfg.Redis.Mode())
	}
	if len(cfg.Kafka.Brokers) != 2 {
		t.Errorf("kafka.brokers = %v", cfg.Kafka.Brokers)
	}
	if cfg.Kafka.EmbeddedListen != "127.0.0.1:19092" {
		t.Errorf("kafka.embedded_listen = %q, want HOTLINED_KAFKA_EMBEDDED_LISTEN's", cfg.Kafka.EmbeddedListen)
	}
	if len(cfg.API.Tokens) != 2 || cfg.API.Tokens[0].Role != "agent" || cfg.API.Tokens[0].SHA256 != HashToken("a1") {
		t.Errorf("tokens = %+v", cfg.API.Tokens)
	}

	// Set but empty: embedded Redis even though a file could name one.
	cfg, err = Load("testdata/good_real_servers.yaml", func(k string) (string, bool) {
		if k == "HOTLINED_REDIS_ADDR" {
			return "", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Redis.Mode() != "embedded" || len(cfg.Kafka.Brokers) != 1 {
		t.Errorf("redis = %q, brokers = %v", cfg.Redis.Servers(), cfg.Kafka.Brokers)
	}

	// Sentinel: the list is the Sentinels, the master name from its variable.
	cfg, err = Load("hotlined.yaml", func(k string) (string, bool) {
		v, ok := map[string]string{"HOTLINED_REDIS_ADDR": "127.0.0.1:26379,127.0.0.1:26380",
			"HOTLINED_REDIS_MASTER": "hotlined"}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Redis.Mode() != "sentinel" || cfg.Redis.MasterName != "hotlined" || len(cfg.Redis.Servers()) != 2 {
		t.Errorf("sentinel: mode %s master %q servers %q", cfg.Redis.Mode(), cfg.Redis.MasterName, cfg.Redis.Servers())
	}

	_, err = Load("hotlined.yaml", func(k string) (string, bool) {
		if k == "HOTLINED_API_TOKENS" {
			return "agent", true
		}
		return "", false
	})
	if err == nil || !strings.Contains(err.Error(), "HOTLINED_API_TOKENS[0]: want role:token") {
		t.Errorf("bad token env: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"hotlined.yaml", "testdata/bad_unknown_key.yaml", "testdata/bad_menu_both.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, noEnv)
		if err == nil && cfg.Location == nil {
			t.Fatal("valid config without a time zone")
		}
	})
}

func TestSecretsComeFromTheEnvironment(t *testing.T) {
	data, err := os.ReadFile("hotlined.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "  consumer_group: hotlined\n",
		"  consumer_group: hotlined\n  sasl: {mechanism: SCRAM-SHA-512, username: hot, password_env: KAFKA_PW}\n", 1)
	text = strings.Replace(text, "  prefix: hotlined\n", "  prefix: hotlined\n  username: hot\n  password_env: REDIS_PW\n", 1)
	env := map[string]string{"KAFKA_PW": "k-secret", "REDIS_PW": "r-secret"}
	cfg, err := Parse([]byte(text), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.SASL.Password != "k-secret" || cfg.Redis.Password != "r-secret" || cfg.Redis.Username != "hot" {
		t.Errorf("kafka %+v redis user %q", cfg.Kafka.SASL, cfg.Redis.Username)
	}
}

func TestSessionKeyFromEnv(t *testing.T) {
	load := func(key string) (*Config, error) {
		data, err := os.ReadFile("hotlined.yaml")
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Replace(string(data), `session_key_env: ""`, "session_key_env: HOTLINED_TEST_SK", 1)
		return Parse([]byte(text), func(k string) (string, bool) {
			if k == "HOTLINED_TEST_SK" {
				return key, true
			}
			return "", false
		})
	}
	cfg, err := load("0123456789abcdef0123456789abcdef")
	if err != nil || cfg.HTTP.SessionKey != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("32-byte key: %v", err)
	}
	if _, err := load("short"); err == nil || !strings.Contains(err.Error(), "http.session_key_env: the key in HOTLINED_TEST_SK must be at least 32 bytes") {
		t.Errorf("short key: %v", err)
	}
}

func TestProblemCodesTable(t *testing.T) {
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"good", "billing:\n  label: {zh: 计费, en: Billing}\n  codes:\n    overcharge: {zh: 多收费, en: Overcharge}\n", ""},
		{"unknown key", "billing:\n  label: {zh: 计费, en: Billing}\n  colour: red\n  codes:\n    x: {zh: a, en: b}\n", "colour"},
		{"missing label", "billing:\n  label: {zh: 计费}\n  codes:\n    x: {zh: a, en: b}\n", "billing.label: both zh and en labels are required"},
		{"code label", "billing:\n  label: {zh: 计费, en: B}\n  codes:\n    x: {zh: a}\n", "billing.codes.x: both zh and en"},
		{"bad code name", "billing:\n  label: {zh: 计费, en: B}\n  codes:\n    Over-Charge: {zh: a, en: b}\n", "billing.codes.Over-Charge: code names"},
		{"empty group", "billing:\n  label: {zh: 计费, en: B}\n", "billing.codes: at least one code"},
		{"not a mapping", "- a\n- b\n", "want a mapping"},
		{"duplicate code", "billing:\n  label: {zh: 计费, en: B}\n  codes:\n    x: {zh: a, en: b}\n    x: {zh: a, en: b}\n", "already defined"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tab, err := ParseProblemCodes([]byte(c.yaml))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if pc, ok := tab.Lookup("billing.overcharge"); !ok || pc.Label.ZH != "多收费" {
					t.Fatalf("lookup = %+v, %v", pc, ok)
				}
				if _, ok := tab.Lookup("billing.other"); ok {
					t.Fatal("found a code the table lacks")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestLeavesNeedACodeOfTheTable(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("hotlined.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "provinces"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"problem_codes.yaml", "rules.yaml", "policies.yaml", "provinces/area_codes.yaml", "provinces/mobile_segments.sample.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := strings.Replace(string(data), "problem_code: billing.charge_dispute,", "problem_code: billing.no_such_code,", 1)
	path := filepath.Join(dir, "hotlined.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path, noEnv)
	if err == nil || !strings.Contains(err.Error(), `menus.default.options.4.options.1.problem_code: "billing.no_such_code" is not in the problem-code table`) {
		t.Fatalf("error %v", err)
	}
}
