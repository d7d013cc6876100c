package previewgenerator_test

// The preview's front door and its isolation: the HTTPRoute (or the Ingress
// variant) to the edge, the edge's oauth2-proxy arguments with and without
// authentication, and the NetworkPolicies. edge_oauth2proxy_test.go runs
// the real oauth2-proxy with the arguments these tests pin.

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	previewgenerator "github.com/preview-generator/preview-generator"
	"github.com/preview-generator/preview-generator/internal/render"
)

// The edge's arguments. edgeRouting is common to both modes; oauth2-proxy
// keeps the last of repeated flags, and an upstream's path is its route.
var (
	edgeRouting = []string{
		"--http-address=0.0.0.0:4180",
		"--upstream=http://app:80/",
		"--reverse-proxy=true",
		"--pass-host-header=false",
		"--ping-path=/oauth2/ping",
		"--ready-path=/oauth2/ready",
		"--silence-ping-logging=true",
		"--email-domain=*",
		"--provider=github",
	}
	// edgeOpen: authentication off, every route skips it.
	edgeOpen = append(slices.Clone(edgeRouting),
		"--client-id=no-auth",
		"--client-secret=no-auth",
		"--cookie-secret=authentication-off-not-a-secret!",
		"--skip-auth-route=^/",
	)
	// edgeAuth: components/auth, credentials from Secret preview-auth.
	edgeAuth = append(slices.Clone(edgeRouting),
		"--client-id=htpasswd-only",
		"--client-secret=htpasswd-only",
		"--cookie-secret-file=/etc/preview-auth/cookie-secret",
		"--htpasswd-file=/etc/preview-auth/htpasswd",
		"--display-htpasswd-form=true",
		"--pass-authorization-header=true",
		"--skip-auth-route=GET=^/healthz$",
		"--api-route=^/api/",
	)
)

// typed converts a rendered object into its Go type.
func typed[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if o == nil {
		t.Fatalf("no %T rendered", v)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &v); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return &v
}

func checkRouting(t *testing.T, res *render.Result, host string, ingress bool) {
	t.Helper()
	if ingress {
		if findObj(res, "HTTPRoute", "app") != nil {
			t.Errorf("the Ingress variant still renders HTTPRoute app")
		}
		ing := typed[networkingv1.Ingress](t, findObj(res, "Ingress", "app"))
		if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != host {
			t.Fatalf("Ingress rules = %+v, want one for %s", ing.Spec.Rules, host)
		}
		paths := ing.Spec.Rules[0].HTTP.Paths
		if len(paths) != 1 || paths[0].Path != "/" || paths[0].Backend.Service == nil ||
			paths[0].Backend.Service.Name != "edge" || paths[0].Backend.Service.Port.Name != "http" {
			t.Errorf("Ingress paths = %+v, want / to Service edge port http", paths)
		}
		// No per-host Secret: the controller's default (wildcard) certificate.
		if len(ing.Spec.TLS) != 1 || !slices.Equal(ing.Spec.TLS[0].Hosts, []string{host}) || ing.Spec.TLS[0].SecretName != "" {
			t.Errorf("Ingress tls = %+v, want the host without a Secret", ing.Spec.TLS)
		}
		for k := range ing.Annotations {
			if strings.Contains(k, "auth") || strings.Contains(k, "cert-manager") {
				t.Errorf("Ingress annotation %s: authentication and certificates are not the controller's business", k)
			}
		}
		return
	}
	if findObj(res, "Ingress", "app") != nil {
		t.Errorf("Ingress app rendered without components/ingress")
	}
	route := typed[gatewayv1.HTTPRoute](t, findObj(res, "HTTPRoute", "app"))
	group, kind, ns := gatewayv1.Group("gateway.networking.k8s.io"), gatewayv1.Kind("Gateway"), gatewayv1.Namespace("preview-gateway")
	want := []gatewayv1.ParentReference{{Group: &group, Kind: &kind, Namespace: &ns, Name: "previews"}}
	if toJSON(t, route.Spec.ParentRefs) != toJSON(t, want) {
		t.Errorf("parentRefs = %s, want %s", toJSON(t, route.Spec.ParentRefs), toJSON(t, want))
	}
	if !slices.Equal(route.Spec.Hostnames, []gatewayv1.Hostname{gatewayv1.Hostname(host)}) {
		t.Errorf("hostnames = %v, want [%s]", route.Spec.Hostnames, host)
	}
	port := gatewayv1.PortNumber(80)
	wantRules := []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
		BackendObjectReference: gatewayv1.BackendObjectReference{Name: "edge", Port: &port}}}}}}
	if toJSON(t, route.Spec.Rules) != toJSON(t, wantRules) {
		t.Errorf("rules = %s, want everything to Service edge port 80", toJSON(t, route.Spec.Rules))
	}
}

func checkEdge(t *testing.T, res *render.Result, want expectation) {
	t.Helper()
	d := typed[appsv1.Deployment](t, findObj(res, "Deployment", "edge"))
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 || pod.Containers[0].Name != "edge" {
		t.Fatalf("edge containers = %+v", pod.Containers)
	}
	c := pod.Containers[0]
	if c.Image != "quay.io/oauth2-proxy/oauth2-proxy:v7.15.6" {
		t.Errorf("edge image = %q", c.Image)
	}
	args := slices.Clone(edgeOpen)
	if want.auth {
		args = slices.Clone(edgeAuth)
	}
	if want.apiUpstream != "" {
		args = append(args, "--upstream="+want.apiUpstream)
	}
	if !slices.Equal(c.Args, args) {
		t.Errorf("edge args:\n%s\nwant:\n%s", strings.Join(c.Args, "\n"), strings.Join(args, "\n"))
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 4180 {
		t.Errorf("edge ports = %+v", c.Ports)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/oauth2/ready" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/oauth2/ping" {
		t.Errorf("edge probes = %+v %+v", c.ReadinessProbe, c.LivenessProbe)
	}
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("edge pod securityContext = %+v", sc)
	}
	var secrets []string
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			secrets = append(secrets, v.Secret.SecretName)
			var keys []string
			for _, it := range v.Secret.Items {
				keys = append(keys, it.Key)
			}
			if !slices.Equal(keys, []string{"htpasswd", "cookie-secret"}) {
				t.Errorf("edge reads keys %v of Secret %s, want htpasswd and cookie-secret", keys, v.Secret.SecretName)
			}
		}
	}
	if want.auth {
		if !slices.Equal(secrets, []string{"preview-auth"}) || len(c.VolumeMounts) != 1 ||
			c.VolumeMounts[0].MountPath != "/etc/preview-auth" || !c.VolumeMounts[0].ReadOnly {
			t.Errorf("edge with auth: Secret volumes %v, mounts %+v; want preview-auth read-only at /etc/preview-auth", secrets, c.VolumeMounts)
		}
	} else if len(secrets) != 0 || len(c.Env) != 0 {
		t.Errorf("edge without auth reads Secrets %v, env %+v", secrets, c.Env)
	}
	svc := typed[corev1.Service](t, findObj(res, "Service", "edge"))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.StrVal != "http" ||
		!maps.Equal(svc.Spec.Selector, d.Spec.Template.Labels) && svc.Spec.Selector["app.kubernetes.io/name"] != "preview-edge" {
		t.Errorf("Service edge = %+v", svc.Spec)
	}
}

// egressRules reads the rules of one egress policy.
func egressRules(t *testing.T, o *unstructured.Unstructured) []egressRule {
	t.Helper()
	np := typed[networkingv1.NetworkPolicy](t, o)
	var out []egressRule
	for _, r := range np.Spec.Egress {
		if len(r.To) != 1 || r.To[0].NamespaceSelector == nil {
			t.Errorf("%s: egress rule %+v is not one namespace", np.Name, r)
			continue
		}
		e := egressRule{namespace: r.To[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]}
		if ps := r.To[0].PodSelector; ps != nil {
			e.appPods = maps.Equal(ps.MatchLabels, map[string]string{"app.kubernetes.io/name": "preview-app"})
		}
		for _, p := range r.Ports {
			if p.Protocol == nil || *p.Protocol != corev1.ProtocolTCP || p.Port == nil || p.Port.IntVal == 0 {
				t.Errorf("%s: port %+v, want a TCP port number", np.Name, p)
				continue
			}
			e.ports = append(e.ports, int64(p.Port.IntVal))
		}
		out = append(out, e)
	}
	return out
}

// policies returns the rendered NetworkPolicies by name.
func policies(t *testing.T, res *render.Result) map[string]*networkingv1.NetworkPolicy {
	t.Helper()
	out := map[string]*networkingv1.NetworkPolicy{}
	for _, o := range res.Objects {
		if o.GetKind() == "NetworkPolicy" {
			out[o.GetName()] = typed[networkingv1.NetworkPolicy](t, o)
		}
	}
	return out
}

// admitted lists, as JSON, every ingress peer that the policies open to
// pods with podLabels, with its ports.
func admitted(t *testing.T, nps map[string]*networkingv1.NetworkPolicy, podLabels map[string]string) []string {
	t.Helper()
	var out []string
	for _, np := range nps {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			t.Fatal(err)
		}
		if !sel.Matches(labels.Set(podLabels)) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			continue
		}
		for _, r := range np.Spec.Ingress {
			ports := toJSON(t, r.Ports)
			for _, from := range r.From {
				out = append(out, toJSON(t, from)+" ports "+ports)
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkPolicies checks the isolation rules of one rendered preview.
func checkPolicies(t *testing.T, res *render.Result, ingressVariant bool) {
	t.Helper()
	ns := ""
	for _, o := range res.Objects {
		if o.GetKind() == "Namespace" {
			ns = o.GetName()
		}
	}
	nps := policies(t, res)
	dd := nps["default-deny"]
	if dd == nil || len(dd.Spec.PodSelector.MatchLabels)+len(dd.Spec.PodSelector.MatchExpressions) != 0 ||
		!slices.Equal(dd.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) ||
		len(dd.Spec.Ingress)+len(dd.Spec.Egress) != 0 {
		t.Errorf("default-deny = %+v, want every pod, both directions, no rule", dd)
	}
	const http = `[{"protocol":"TCP","port":"http"}]`
	gateway := "preview-gateway"
	if ingressVariant {
		gateway = "ingress-nginx"
	}
	monitoring := `{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}} ports null`
	// The edge: the Gateway's (or the Ingress controller's) namespace, on
	// its port; monitoring.
	wantEdge := []string{
		`{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"` + gateway + `"}}} ports ` + http,
		monitoring,
	}
	sort.Strings(wantEdge)
	if got := admitted(t, nps, map[string]string{"app.kubernetes.io/name": "preview-edge"}); !slices.Equal(got, wantEdge) {
		t.Errorf("the edge admits\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantEdge, "\n"))
	}
	if nps["allow-from-gateway"] == nil {
		t.Errorf("no allow-from-gateway: overlays patch it by name")
	}
	// The app: its own edge, the previews that depend on it, monitoring.
	// Nothing else, not even the preview's other pods.
	wantApp := []string{
		`{"podSelector":{"matchLabels":{"app.kubernetes.io/name":"preview-edge"}}} ports ` + http,
		`{"namespaceSelector":{"matchLabels":{"dependency.preview-generator.io/` + ns + `":"true"}}} ports ` + http,
		monitoring,
	}
	sort.Strings(wantApp)
	if got := admitted(t, nps, map[string]string{"app.kubernetes.io/name": "preview-app"}); !slices.Equal(got, wantApp) {
		t.Errorf("the app admits\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantApp, "\n"))
	}
	// A database pod admits its namespace (and each data component narrows
	// that further with a policy of its own) and monitoring.
	if got := admitted(t, nps, map[string]string{"app.kubernetes.io/name": "postgres"}); !slices.Contains(got, `{"podSelector":{}} ports null`) || !slices.Contains(got, monitoring) {
		t.Errorf("postgres admits %v", got)
	}
	// DNS: kube-dns pods and NodeLocal DNSCache, port 53 only.
	dns := nps["allow-dns"]
	const port53 = `[{"protocol":"UDP","port":53},{"protocol":"TCP","port":53}]`
	wantDNS := []string{
		`{"ports":` + port53 + `,"to":[{"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}},"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}}}]}`,
		`{"ports":` + port53 + `,"to":[{"ipBlock":{"cidr":"169.254.20.10/32"}}]}`,
	}
	var gotDNS []string
	for _, r := range dns.Spec.Egress {
		gotDNS = append(gotDNS, toJSON(t, r))
	}
	if !slices.Equal(gotDNS, wantDNS) {
		t.Errorf("allow-dns egress\n%s\nwant\n%s", strings.Join(gotDNS, "\n"), strings.Join(wantDNS, "\n"))
	}
	// Egress out of the namespace always names its ports: staging's
	// databases, or any other port of a dependency, stay closed.
	for _, np := range nps {
		for _, r := range np.Spec.Egress {
			for _, to := range r.To {
				if to.NamespaceSelector != nil || to.IPBlock != nil {
					if len(r.Ports) == 0 {
						t.Errorf("%s opens every port to %s", np.Name, toJSON(t, to))
					}
				} else if np.Name != "allow-egress-same-namespace" {
					t.Errorf("%s: egress to %s", np.Name, toJSON(t, to))
				}
			}
		}
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEdgeModesDifferOnlyByAuthentication: components/auth replaces the
// edge's whole argument list, so it repeats the base's routing arguments;
// the two lists must not drift apart.
func TestEdgeModesDifferOnlyByAuthentication(t *testing.T) {
	t.Parallel()
	fsys := previewgenerator.GitOps()
	for _, tc := range []struct {
		components []string
		want       []string
	}{
		{nil, edgeOpen},
		{[]string{"../components/auth"}, edgeAuth},
	} {
		res, err := render.Kustomize(fsys, "kustomize/base", render.Options{Kustomize: &v1alpha1.ApplicationSourceKustomize{Components: tc.components}})
		if err != nil {
			t.Fatal(err)
		}
		d := typed[appsv1.Deployment](t, findObj(res, "Deployment", "edge"))
		if got := d.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, tc.want) {
			t.Errorf("components %v: edge args\n%s\nwant\n%s", tc.components, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
	if !slices.Equal(edgeOpen[:len(edgeRouting)], edgeAuth[:len(edgeRouting)]) {
		t.Errorf("the routing arguments differ between the modes")
	}
}

// TestAuthGitHubComponent: GitHub sign-in comes on top of components/auth,
// the OAuth App's credentials from Secret preview-auth through env
// references (never a value in git), appended after the placeholders they
// override.
func TestAuthGitHubComponent(t *testing.T) {
	t.Parallel()
	res, err := render.Kustomize(previewgenerator.GitOps(), "kustomize/base", render.Options{Kustomize: &v1alpha1.ApplicationSourceKustomize{
		Components: []string{"../components/auth", "../components/auth-github"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := typed[appsv1.Deployment](t, findObj(res, "Deployment", "edge")).Spec.Template.Spec.Containers[0]
	want := append(slices.Clone(edgeAuth),
		"--client-id=$(PREVIEW_AUTH_CLIENT_ID)",
		"--client-secret=$(PREVIEW_AUTH_CLIENT_SECRET)",
		"--github-org=acme",
	)
	if !slices.Equal(c.Args, want) {
		t.Errorf("edge args\n%s\nwant\n%s", strings.Join(c.Args, "\n"), strings.Join(want, "\n"))
	}
	refs := map[string]string{}
	for _, e := range c.Env {
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "preview-auth" {
			t.Errorf("env %s = %+v, want a key of Secret preview-auth", e.Name, e)
			continue
		}
		refs[e.Name] = e.ValueFrom.SecretKeyRef.Key
	}
	if !maps.Equal(refs, map[string]string{"PREVIEW_AUTH_CLIENT_ID": "client-id", "PREVIEW_AUTH_CLIENT_SECRET": "client-secret"}) {
		t.Errorf("env refs = %v", refs)
	}
	// The edge, and only the edge, reaches GitHub over HTTPS; never the
	// cluster's private ranges.
	np := policies(t, res)["allow-edge-to-github"]
	if np == nil || !maps.Equal(np.Spec.PodSelector.MatchLabels, map[string]string{"app.kubernetes.io/name": "preview-edge"}) ||
		len(np.Spec.Egress) != 1 || len(np.Spec.Egress[0].To) != 1 || np.Spec.Egress[0].To[0].IPBlock == nil ||
		toJSON(t, np.Spec.Egress[0].Ports) != `[{"protocol":"TCP","port":443}]` {
		t.Fatalf("allow-edge-to-github = %+v", np)
	}
	for _, private := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} {
		if !slices.Contains(np.Spec.Egress[0].To[0].IPBlock.Except, private) {
			t.Errorf("allow-edge-to-github does not except %s", private)
		}
	}
	checkPolicies(t, res, false)
}

// TestNoCrossNamespaceSecretReference: whatever the components, a preview
// reads only Secrets of its own namespace, by name (a pod cannot name
// another namespace's), and no annotation points a controller at a Secret
// elsewhere (ingress-nginx refuses those since 1.12).
func TestNoCrossNamespaceSecretReference(t *testing.T) {
	t.Parallel()
	fsys := previewgenerator.GitOps()
	all := []string{"../components/db", "../components/redis", "../components/mongodb", "../components/auth", "../components/auth-github", "../components/ingress", "../components/egress-internet"}
	res, err := render.Kustomize(fsys, "kustomize/base", render.Options{Kustomize: &v1alpha1.ApplicationSourceKustomize{Components: all}})
	if err != nil {
		t.Fatal(err)
	}
	known := []string{"preview-auth", "db-credentials", "preview-pull"}
	for _, o := range res.Objects {
		if o.GetKind() == "Secret" {
			t.Errorf("Secret %s rendered", o.GetName())
		}
		for k, v := range o.GetAnnotations() {
			if strings.Contains(strings.ToLower(k), "secret") || strings.Contains(v, "preview-system/") {
				t.Errorf("%s %s: annotation %s=%q names a Secret", o.GetKind(), o.GetName(), k, v)
			}
		}
		var walk func(any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, x := range v {
					var name string
					switch k {
					case "secretName": // volumes
						name, _ = x.(string)
					case "secretKeyRef", "secretRef": // env, envFrom
						ref, _ := x.(map[string]any)
						name, _ = ref["name"].(string)
					}
					if name != "" && !slices.Contains(known, name) {
						t.Errorf("%s %s reads Secret %q", o.GetKind(), o.GetName(), name)
					}
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			}
		}
		walk(o.Object)
	}
}

// TestEgressInternetComponent: the internet allowlist is opt-in, and it
// never opens the private ranges where the cluster's networks live.
func TestEgressInternetComponent(t *testing.T) {
	t.Parallel()
	fsys := previewgenerator.GitOps()
	base, err := render.Kustomize(fsys, "kustomize/base", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if policies(t, base)["allow-egress-internet"] != nil {
		t.Errorf("a preview reaches the internet without components/egress-internet")
	}
	res, err := render.Kustomize(fsys, "kustomize/base", render.Options{Kustomize: &v1alpha1.ApplicationSourceKustomize{Components: []string{"../components/egress-internet"}}})
	if err != nil {
		t.Fatal(err)
	}
	np := policies(t, res)["allow-egress-internet"]
	if np == nil || len(np.Spec.Egress) != 1 || len(np.Spec.Egress[0].To) != 1 || np.Spec.Egress[0].To[0].IPBlock == nil {
		t.Fatalf("allow-egress-internet = %+v", np)
	}
	ib := np.Spec.Egress[0].To[0].IPBlock
	for _, private := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} {
		if !slices.Contains(ib.Except, private) {
			t.Errorf("allowlist %s does not except %s", ib.CIDR, private)
		}
	}
	if got := toJSON(t, np.Spec.Egress[0].Ports); got != `[{"protocol":"TCP","port":443}]` {
		t.Errorf("allowlist ports = %s, want TCP 443", got)
	}
	checkPolicies(t, res, false)
}
