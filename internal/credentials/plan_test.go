package credentials

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const testCookie = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" // 32 zero bytes, base64url

func fixedCookie() ([]byte, error) { return []byte("new-cookie"), nil }

func ours(name string, typ corev1.SecretType, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "backend-pr-1-58d661", Name: name, ResourceVersion: "7",
			Labels:      map[string]string{ManagedByLabel: ManagedBy, CopiedFromLabel: "src", "kept": "yes"},
			Annotations: map[string]string{CopiedFromAnnotation: "preview-system/src"}},
		Type: typ, Data: map[string][]byte{},
	}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func src(typ corev1.SecretType, data map[string]string) source {
	s := source{namespace: "preview-system", name: "src"}
	if data != nil {
		s.secret = ours("src", typ, data)
	}
	return s
}

func TestPlanAuth(t *testing.T) {
	t.Parallel()
	full := map[string]string{KeyHTPasswd: "u:h\n", KeyClientID: "id", KeyClientSecret: "sec", "other": "x"}
	for _, tc := range []struct {
		name     string
		src      source
		cur      *corev1.Secret
		wantOp   string
		wantData map[string]string // of want, when written
	}{
		{"new namespace", src(corev1.SecretTypeOpaque, full), nil, opCreate,
			map[string]string{KeyHTPasswd: "u:h\n", KeyClientID: "id", KeyClientSecret: "sec", KeyCookieSecret: "new-cookie"}},
		{"up to date", src(corev1.SecretTypeOpaque, full),
			ours(AuthSecret, corev1.SecretTypeOpaque, map[string]string{KeyHTPasswd: "u:h\n", KeyClientID: "id", KeyClientSecret: "sec", KeyCookieSecret: testCookie}),
			opNone, nil},
		{"source changed: cookie kept", src(corev1.SecretTypeOpaque, map[string]string{KeyHTPasswd: "v:h\n"}),
			ours(AuthSecret, corev1.SecretTypeOpaque, map[string]string{KeyHTPasswd: "u:h\n", KeyClientID: "id", KeyCookieSecret: testCookie}),
			opUpdate, map[string]string{KeyHTPasswd: "v:h\n", KeyCookieSecret: testCookie}},
		{"broken cookie replaced", src(corev1.SecretTypeOpaque, map[string]string{KeyHTPasswd: "u:h\n"}),
			ours(AuthSecret, corev1.SecretTypeOpaque, map[string]string{KeyHTPasswd: "u:h\n", KeyCookieSecret: "short"}),
			opUpdate, map[string]string{KeyHTPasswd: "u:h\n", KeyCookieSecret: "new-cookie"}},
		{"source missing: empty htpasswd, cookie, no client", src("", nil), nil, opCreate,
			map[string]string{KeyHTPasswd: "", KeyCookieSecret: "new-cookie"}},
		{"source without htpasswd", src(corev1.SecretTypeOpaque, map[string]string{KeyClientID: "id", KeyClientSecret: "sec"}), nil, opCreate,
			map[string]string{KeyHTPasswd: "", KeyClientID: "id", KeyClientSecret: "sec", KeyCookieSecret: "new-cookie"}},
		{"source gone: client removed", src("", nil),
			ours(AuthSecret, corev1.SecretTypeOpaque, map[string]string{KeyHTPasswd: "u:h\n", KeyClientID: "id", KeyClientSecret: "sec", KeyCookieSecret: testCookie}),
			opUpdate, map[string]string{KeyHTPasswd: "", KeyCookieSecret: testCookie}},
		{"foreign: managed-by alone is not ours", src(corev1.SecretTypeOpaque, full),
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: AuthSecret, Labels: map[string]string{ManagedByLabel: ManagedBy}}},
			opForeign, nil},
		{"foreign: no labels", src(corev1.SecretTypeOpaque, full), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: AuthSecret}}, opForeign, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want, op, err := planAuth("backend-pr-1-58d661", tc.src, tc.cur, fixedCookie)
			if err != nil {
				t.Fatal(err)
			}
			if op != tc.wantOp {
				t.Fatalf("op = %q, want %q", op, tc.wantOp)
			}
			if op != opCreate && op != opUpdate {
				if want != nil {
					t.Errorf("want = %v for op %q", want, op)
				}
				return
			}
			checkData(t, want, tc.wantData)
			if want.Type != corev1.SecretTypeOpaque || want.Namespace != "backend-pr-1-58d661" || want.Name != AuthSecret ||
				want.Labels[ManagedByLabel] != ManagedBy || want.Labels[CopiedFromLabel] != "src" ||
				want.Annotations[CopiedFromAnnotation] != "preview-system/src" {
				t.Errorf("want = %s/%s type %q labels %v annotations %v", want.Namespace, want.Name, want.Type, want.Labels, want.Annotations)
			}
			if op == opUpdate && (want.ResourceVersion != "7" || want.Labels["kept"] != "yes") {
				t.Errorf("update lost the resourceVersion or other labels: %q %v", want.ResourceVersion, want.Labels)
			}
		})
	}
}

func checkData(t *testing.T, s *corev1.Secret, want map[string]string) {
	t.Helper()
	if len(s.Data) != len(want) {
		t.Errorf("keys = %v, want %v", keys(s.Data), want)
	}
	for k, v := range want {
		got, ok := s.Data[k]
		if !ok || string(got) != v {
			t.Errorf("%s = %q (present %t), want %q", k, got, ok, v)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPlanPull(t *testing.T) {
	t.Parallel()
	cfg := `{"auths":{"r.example.com":{"auth":"eDp5"}}}`
	dj := corev1.SecretTypeDockerConfigJson
	for _, tc := range []struct {
		name     string
		src      source
		cur      *corev1.Secret
		wantOp   string
		wantData string
		wantErr  string
	}{
		{"new namespace", src(dj, map[string]string{corev1.DockerConfigJsonKey: cfg}), nil, opCreate, cfg, ""},
		{"up to date", src(dj, map[string]string{corev1.DockerConfigJsonKey: cfg}), ours(PullSecret, dj, map[string]string{corev1.DockerConfigJsonKey: cfg}), opNone, "", ""},
		{"rotated", src(dj, map[string]string{corev1.DockerConfigJsonKey: cfg}), ours(PullSecret, dj, map[string]string{corev1.DockerConfigJsonKey: "{}"}), opUpdate, cfg, ""},
		{"no source, no copy", src("", nil), nil, opNone, "", ""},
		{"source gone: copy emptied", src("", nil), ours(PullSecret, dj, map[string]string{corev1.DockerConfigJsonKey: cfg}), opUpdate, `{"auths":{}}`, ""},
		{"source gone, already empty", src("", nil), ours(PullSecret, dj, map[string]string{corev1.DockerConfigJsonKey: `{"auths":{}}`}), opNone, "", ""},
		{"source of the wrong type", src(corev1.SecretTypeOpaque, map[string]string{corev1.DockerConfigJsonKey: cfg}), nil, opNone, "", "want kubernetes.io/dockerconfigjson"},
		{"foreign", src(dj, map[string]string{corev1.DockerConfigJsonKey: cfg}), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: PullSecret}, Type: dj}, opForeign, "", ""},
		{"our copy of another type", src(dj, map[string]string{corev1.DockerConfigJsonKey: cfg}), ours(PullSecret, corev1.SecretTypeOpaque, nil), opNone, "", "delete it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want, op, err := planPull("backend-pr-1-58d661", tc.src, tc.cur)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if op != tc.wantOp {
				t.Fatalf("op = %q, want %q", op, tc.wantOp)
			}
			if op == opCreate || op == opUpdate {
				checkData(t, want, map[string]string{corev1.DockerConfigJsonKey: tc.wantData})
				if want.Type != dj {
					t.Errorf("type = %q", want.Type)
				}
			}
		})
	}
}

func TestPlanAuthCookieError(t *testing.T) {
	t.Parallel()
	boom := errors.New("no entropy")
	if _, _, err := planAuth("ns", src("", nil), nil, func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the cookie generator's", err)
	}
}

func TestNewCookieSecret(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		c, err := NewCookieSecret()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.URLEncoding.DecodeString(string(c))
		if err != nil || len(raw) != 32 || len(c) != 44 || !validCookieSecret(c) {
			t.Fatalf("%q: %d bytes, %v", c, len(raw), err)
		}
		if seen[string(c)] {
			t.Fatalf("%q twice", c)
		}
		seen[string(c)] = true
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 32), strings.Repeat("A", 64), "not base64 at all, but 44 characters long!!"} {
		if validCookieSecret([]byte(bad)) {
			t.Errorf("validCookieSecret(%q) = true", bad)
		}
	}
}
