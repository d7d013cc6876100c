package kubetest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string // kind/name
		wantErr bool
	}{
		{"documents", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n", []string{"Namespace/a", "ConfigMap/b"}, false},
		{"empty documents and comments", "---\n# nothing\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n", []string{"Namespace/a"}, false},
		{"JSON", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}`, []string{"Namespace/a"}, false},
		{"nothing", "", nil, false},
		{"not YAML", "kind: [", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs, err := Decode([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.GetKind()+"/"+o.GetName())
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("objects = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStartWithoutBinaries runs TestHelperStart in a child process without
// PREVIEW_APISERVER_BIN: it skips, unless PREVIEW_REQUIRE_APISERVER is set,
// and then it fails.
func TestStartWithoutBinaries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		require string
		fails   bool
		output  string
	}{
		{"skips", "", false, "--- SKIP: TestHelperStart"},
		{"fails when required", "1", true, "PREVIEW_REQUIRE_APISERVER is set but PREVIEW_APISERVER_BIN is not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStart$", "-test.v")
			cmd.Env = append(os.Environ(), "KUBETEST_HELPER=1", BinEnv+"=", RequireEnv+"="+tc.require)
			out, err := cmd.CombinedOutput()
			if (err != nil) != tc.fails || !strings.Contains(string(out), tc.output) {
				t.Errorf("err = %v, output:\n%s\nwant failure %v and %q", err, out, tc.fails, tc.output)
			}
		})
	}
}

func TestHelperStart(t *testing.T) {
	if os.Getenv("KUBETEST_HELPER") == "" {
		t.Skip("run by TestStartWithoutBinaries")
	}
	Start(t)
	t.Error("Start returned without binaries")
}
