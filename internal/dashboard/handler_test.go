package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func newHandler(t *testing.T, cfg Config) *Handler {
	t.Helper()
	if cfg.Source == nil {
		cfg.Source = &fakeSource{snap: fullSnapshot()}
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type reqOpt func(*http.Request)

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }
func fromAddr(a string) reqOpt      { return func(r *http.Request) { r.RemoteAddr = a } }
func withCookie(v string) reqOpt {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: CookieName, Value: v}) }
}

func serve(h http.Handler, method, target, body string, opts ...reqOpt) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.RemoteAddr = "192.0.2.10:40000"
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, o := range opts {
		o(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	src := &fakeSource{}
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"default is off", Config{}, ""},
		{"open", Config{Access: AccessOpen, Source: src}, ""},
		{"unknown mode", Config{Access: "public", Source: src}, "want off, open, token or proxy"},
		{"token without token", Config{Access: AccessToken, Source: src}, "at least 16 bytes"},
		{"short token", Config{Access: AccessToken, Token: []byte("short"), Source: src}, "at least 16 bytes"},
		{"token", Config{Access: AccessToken, Token: []byte(testToken), Source: src}, ""},
		{"proxy without sources", Config{Access: AccessProxy, Source: src}, "source addresses"},
		{"proxy", Config{Access: AccessProxy, ProxyCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Source: src}, ""},
		{"no source", Config{Access: AccessOpen}, "no source"},
		{"relative Argo CD URL", Config{Access: AccessOpen, Source: src, ArgoCDURL: "argocd.example.com"}, "absolute http(s) URL"},
		{"Argo CD URL with query", Config{Access: AccessOpen, Source: src, ArgoCDURL: "https://argocd.example.com/?x=1"}, "absolute http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.cfg)
			if tc.want == "" && err != nil {
				t.Fatalf("New: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	got, err := ParseCIDRs(" 10.0.0.0/8, 192.0.2.7 ,fd00::/8,")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "fd00::/8"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("%d: %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "nope", "10.0.0/8"} {
		if _, err := ParseCIDRs(bad); err == nil {
			t.Errorf("ParseCIDRs(%q) accepted", bad)
		}
	}
}

// TestAccess runs every route under every access mode.
func TestAccess(t *testing.T) {
	t.Parallel()
	proxyNet := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	good := cookieValue([]byte(testToken))
	type want struct {
		code int
		// json: the body is {"message": ...} containing msg; else HTML
		// containing msg.
		json bool
		msg  string
	}
	tests := []struct {
		name   string
		cfg    Config
		method string
		target string
		opts   []reqOpt
		want   want
	}{
		{"off: page", Config{Access: AccessOff}, "GET", "/", nil, want{404, true, "the dashboard is off"}},
		{"off: api", Config{Access: AccessOff}, "GET", RoutePreviews, nil, want{404, true, "off"}},
		{"open: page", Config{Access: AccessOpen}, "GET", "/", nil, want{200, false, "Add login endpoint"}},
		{"open: api", Config{Access: AccessOpen}, "GET", RoutePreviews, nil, want{200, true, ""}},
		{"open: HEAD", Config{Access: AccessOpen}, "HEAD", "/", nil, want{200, false, ""}},
		{"open: wrong method", Config{Access: AccessOpen}, "DELETE", RoutePreviews, nil, want{405, true, "method DELETE not allowed"}},
		{"open: GET wake", Config{Access: AccessOpen}, "GET", RouteWake, nil, want{405, true, "not allowed"}},
		{"open: unknown path", Config{Access: AccessOpen}, "GET", "/nope", nil, want{404, true, "no route"}},

		{"token: page without credential", Config{Access: AccessToken, Token: []byte(testToken)}, "GET", "/", nil,
			want{401, false, `name="token"`}},
		{"token: api without credential", Config{Access: AccessToken, Token: []byte(testToken)}, "GET", RoutePreviews, nil,
			want{401, true, "Authorization: Bearer"}},
		{"token: api with header", Config{Access: AccessToken, Token: []byte(testToken)}, "GET", RoutePreviews,
			[]reqOpt{withHeader("Authorization", "Bearer "+testToken)}, want{200, true, ""}},
		{"token: api with wrong header", Config{Access: AccessToken, Token: []byte(testToken)}, "GET", RoutePreviews,
			[]reqOpt{withHeader("Authorization", "Bearer "+testToken+"x")}, want{403, true, "invalid dashboard token"}},
		{"token: api with basic auth", Config{Access: AccessToken, Token: []byte(testToken)}, "GET", RoutePreviews,
			[]reqOpt{withHeader("Authorization", "Basic "+testToken)}, want{401, true, "Bearer"}},
		{"token: page with cookie", Config{Access: AccessToken, Token: []byte(testToken)}, "GET", "/",
			[]reqOpt{withCookie(good)}, want{200, false, "Add login endpoint"}},
		{"token: api with cookie", Config{Access: AccessToken, Token: []byte(testToken)}, "GET", RoutePreviews,
			[]reqOpt{withCookie(good)}, want{200, true, ""}},
		{"token: the token itself is no cookie", Config{Access: AccessToken, Token: []byte(testToken)}, "GET", "/",
			[]reqOpt{withCookie(testToken)}, want{403, false, "cookie is not valid"}},
		{"token: wrong ?token=", Config{Access: AccessToken, Token: []byte(testToken)}, "GET", "/?token=nope", nil,
			want{403, false, "invalid dashboard token"}},
		{"token: wake without credential", Config{Access: AccessToken, Token: []byte(testToken)}, "POST", RouteWake, nil,
			want{401, true, "Bearer"}},

		{"proxy: from the proxy with a user", Config{Access: AccessProxy, ProxyCIDRs: proxyNet}, "GET", "/",
			[]reqOpt{fromAddr("10.1.2.3:5555"), withHeader("X-Forwarded-User", "alice@example.com")}, want{200, false, "alice@example.com"}},
		{"proxy: a header the proxy does not set names nobody", Config{Access: AccessProxy, ProxyCIDRs: proxyNet}, "GET", RoutePreviews,
			[]reqOpt{fromAddr("10.1.2.3:5555"), withHeader("X-Auth-Request-User", "mallory")}, want{401, true, "named no user (X-Forwarded-User)"}},
		{"proxy: auth_request header when configured", Config{Access: AccessProxy, ProxyCIDRs: proxyNet, ProxyUserHeaders: []string{"X-Auth-Request-User"}}, "GET", "/",
			[]reqOpt{fromAddr("10.1.2.3:5555"), withHeader("X-Auth-Request-User", "alice@example.com")}, want{200, false, "alice@example.com"}},
		{"proxy: X-Forwarded-User", Config{Access: AccessProxy, ProxyCIDRs: proxyNet}, "GET", RoutePreviews,
			[]reqOpt{fromAddr("10.1.2.3:5555"), withHeader("X-Forwarded-User", "alice")}, want{200, true, ""}},
		{"proxy: IPv4-mapped proxy address", Config{Access: AccessProxy, ProxyCIDRs: proxyNet}, "GET", RoutePreviews,
			[]reqOpt{fromAddr("[::ffff:10.1.2.3]:5555"), withHeader("X-Forwarded-User", "alice")}, want{200, true, ""}},
		{"proxy: from the proxy without a user", Config{Access: AccessProxy, ProxyCIDRs: proxyNet}, "GET", RoutePreviews,
			[]reqOpt{fromAddr("10.1.2.3:5555")}, want{401, true, "named no user"}},
		{"proxy: user header from elsewhere", Config{Access: AccessProxy, ProxyCIDRs: proxyNet}, "GET", "/",
			[]reqOpt{fromAddr("10.2.0.1:5555"), withHeader("X-Forwarded-User", "mallory")}, want{403, false, "only through its auth proxy"}},
		{"proxy: api from elsewhere", Config{Access: AccessProxy, ProxyCIDRs: proxyNet}, "GET", RoutePreviews,
			[]reqOpt{fromAddr("192.0.2.1:5555"), withHeader("X-Forwarded-User", "mallory")}, want{403, true, "auth proxy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, tc.cfg)
			rec := serve(h, tc.method, tc.target, "", tc.opts...)
			if rec.Code != tc.want.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want.code, rec.Body)
			}
			ct := rec.Header().Get("Content-Type")
			if tc.want.json {
				if ct != "application/json" {
					t.Fatalf("Content-Type %q, want JSON", ct)
				}
				if tc.want.code >= 400 {
					var e errorBody
					if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e.Message, tc.want.msg) {
						t.Fatalf("body %s, want a message containing %q", rec.Body, tc.want.msg)
					}
				}
			} else {
				if !strings.HasPrefix(ct, "text/html") {
					t.Fatalf("Content-Type %q, want HTML", ct)
				}
				if !strings.Contains(rec.Body.String(), tc.want.msg) {
					t.Fatalf("page lacks %q:\n%s", tc.want.msg, rec.Body)
				}
				if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
					t.Errorf("CSP %q", csp)
				}
			}
			if tc.want.code == 401 && tc.cfg.Access == AccessToken && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.want.code >= 400 && strings.Contains(rec.Body.String(), "Add login endpoint") {
				t.Error("a denied request sees the data")
			}
		})
	}
}

// TestTokenExchange: ?token= sets the cookie and redirects to a URL
// without the token; the cookie then opens the page.
func TestTokenExchange(t *testing.T) {
	t.Parallel()
	h := newHandler(t, Config{Access: AccessToken, Token: []byte(testToken)})
	rec := serve(h, "GET", "/?token="+url.QueryEscape(testToken)+"&woke=acme/backend%2312", "", withHeader("X-Forwarded-Proto", "https"))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if loc := rec.Header().Get("Location"); strings.Contains(loc, "token") || !strings.HasPrefix(loc, "/?woke=") {
		t.Errorf("Location %q: want the page without the token", loc)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != CookieName || c.Value == testToken || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Errorf("cookie %+v: want HttpOnly, Secure behind https, SameSite=Lax, not the token itself", c)
	}
	rec = serve(h, "GET", "/", "", withCookie(c.Value))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Add login endpoint") {
		t.Fatalf("with the cookie: %d", rec.Code)
	}
	// Another token, another cookie: the old one no longer opens it.
	h2 := newHandler(t, Config{Access: AccessToken, Token: []byte(testToken + "-rotated")})
	if rec := serve(h2, "GET", "/", "", withCookie(c.Value)); rec.Code != http.StatusForbidden {
		t.Errorf("old cookie after rotation: %d, want 403", rec.Code)
	}
}

// TestAPIShape decodes the JSON by hand-written expectations.
func TestAPIShape(t *testing.T) {
	t.Parallel()
	h := newHandler(t, Config{Access: AccessOpen, ArgoCDURL: "https://argocd.example.com/"})
	rec := serve(h, "GET", RoutePreviews, "")
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"generated_at", "known", "complete", "answered", "unavailable", "stale_repositories", "stale_as_of", "totals", "previews", "recently_gone"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %q in %s", k, rec.Body)
		}
	}
	var snap apiSnapshot
	if err := json.Unmarshal(rec.Body.Bytes(), &snap); err != nil {
		t.Fatal(err)
	}
	if !snap.Known || !snap.Complete || snap.GeneratedAt != "2026-11-20T12:00:00Z" {
		t.Errorf("header %+v", snap)
	}
	// Sorted: live (backend#1, payments#42), sleeping, queued.
	var order []string
	for _, p := range snap.Previews {
		order = append(order, p.Repository+"#"+strconvI(p.Number)+" "+p.State)
	}
	if want := "acme/backend#1 live,acme/payments#42 live,acme/backend#12 sleeping,acme/payments#43 queued"; strings.Join(order, ",") != want {
		t.Errorf("order %v, want %s", order, want)
	}
	live := snap.Previews[0]
	want := apiPreview{
		ApplicationSet: "backend", Name: "backend-pr-1-58d661", Namespace: "backend-pr-1-58d661", Repository: "acme/backend", Number: 1,
		Title: "Add login endpoint", Author: "alice", URL: "https://backend-pr-1-58d661.preview.example.com",
		PRURL: "https://github.com/acme/backend/pull/1", HeadShortSHA: "3f78685", State: "live",
		CreatedAt: "2026-11-19T06:00:00Z", LastActivityAt: "2026-11-20T09:00:00Z",
		ExpiresAt: "2026-11-20T17:12:00Z", ExpiresIn: "in 5h12m", SleepsAt: "2026-11-20T13:00:00Z",
		CostPerHour: "0.0412", CostCurrency: "USD", Dependencies: []Dependency{},
		JiraIssue: "ABC-123", JiraURL: "https://jira.example.com/browse/ABC-123", ImageStatus: "ungated",
		ArgoCDURL: "https://argocd.example.com/applications/argocd/backend-pr-1-58d661",
		LogsURL:   "https://argocd.example.com/applications/argocd/backend-pr-1-58d661?node=apps%2FDeployment%2Fbackend-pr-1-58d661%2Fapp%2F0&tab=logs",
	}
	if !equalJSON(t, live, want) {
		t.Errorf("live preview\n got %+v\nwant %+v", live, want)
	}
	// A generator without the lifecycle keys: empty strings, never errors.
	old := snap.Previews[1]
	if old.State != "live" || old.CostPerHour != "" || old.SleepsAt != "" || old.JiraIssue != "" || old.CreatedAt != "" || old.ExpiresIn != "in 2d23h" {
		t.Errorf("old-style preview %+v", old)
	}
	sl := snap.Previews[2]
	if !sl.Pinned || sl.ExpiresIn != "in 1d22h" || len(sl.Dependencies) != 1 || sl.Dependencies[0].Target != "pr-42" ||
		sl.Dependencies[0].PublicURL != "https://payments-pr-42-"+sl.Dependencies[0].PublicURL[len("https://payments-pr-42-"):] {
		t.Errorf("sleeping preview %+v", sl)
	}
	q := snap.Previews[3]
	if q.Queue == nil || q.Queue.Position != 1 || q.Queue.Of != 2 || q.ArgoCDURL != "" || q.Name != "" {
		t.Errorf("queued %+v", q)
	}
	wantTotals := Totals{Live: 2, Sleeping: 1, QueueLength: 1, CostPerDay: []Money{{"USD", "1.06"}}, Unestimated: 1,
		ByAge: []Bucket{{"< 1 day", 0}, {"1–3 days", 1}, {"3–7 days", 0}, {"1–4 weeks", 1}, {"≥ 4 weeks", 0}, {"unknown", 1}}}
	if !equalJSON(t, snap.Totals, wantTotals) {
		t.Errorf("totals %+v, want %+v", snap.Totals, wantTotals)
	}
}

func strconvI(n int) string { b, _ := json.Marshal(n); return string(b) }

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(x) == string(y)
}

// TestUnknownIsNeverEmpty: the page and the JSON say "no previews" only
// when every ApplicationSet answered; otherwise they say what is missing.
func TestUnknownIsNeverEmpty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		snap      Snapshot
		err       error
		code      int
		pageHas   []string
		pageLacks []string
		known     bool
		complete  bool
	}{
		{name: "nothing asked yet", code: 200, pageHas: []string{"Data unavailable", "No ApplicationSet has asked"},
			pageLacks: []string{`id="empty"`, `id="totals"`}},
		{name: "source fails", err: errGitHubDown, code: 503, pageHas: []string{"Data unavailable", "GitHub answered 502"},
			pageLacks: []string{`id="empty"`, `id="totals"`}},
		{name: "answered, none", snap: Snapshot{Answered: []string{"backend"}}, code: 200, known: true, complete: true,
			pageHas: []string{`id="empty"`, "No previews"}, pageLacks: []string{"Data unavailable"}},
		{name: "one answered, one unavailable", code: 200, known: true,
			snap:      Snapshot{Answered: []string{"backend"}, Unavailable: []Unavailable{{"payments", "the open pull requests are not known: 502"}}},
			pageHas:   []string{"ApplicationSet <strong>payments</strong> are unavailable", "the open pull requests are not known: 502", `id="empty-partial"`},
			pageLacks: []string{`id="empty"`}},
		{name: "only unavailable", code: 200, known: true,
			snap:      Snapshot{Unavailable: []Unavailable{{"backend", "cold"}}},
			pageHas:   []string{"ApplicationSet <strong>backend</strong> are unavailable", `id="empty-partial"`},
			pageLacks: []string{`id="empty"`}},
		{name: "stale", code: 200, known: true, complete: true,
			snap:    Snapshot{Answered: []string{"backend"}, Previews: []Preview{FromParams("backend", liveParams())}, Stale: []string{"acme/backend"}, StaleAsOf: testNow.Add(-20 * time.Minute)},
			pageHas: []string{`id="stale"`, "GitHub cannot be refreshed for acme/backend", "20m ago", "Add login endpoint"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, Config{Access: AccessOpen, Source: &fakeSource{snap: tc.snap, err: tc.err}})
			rec := serve(h, "GET", "/", "")
			page := rec.Body.String()
			if rec.Code != tc.code {
				t.Fatalf("page status %d, want %d", rec.Code, tc.code)
			}
			for _, s := range tc.pageHas {
				if !strings.Contains(page, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tc.pageLacks {
				if strings.Contains(page, s) {
					t.Errorf("page has %q", s)
				}
			}
			rec = serve(h, "GET", RoutePreviews, "")
			if tc.err != nil {
				if rec.Code != 503 || strings.Contains(rec.Body.String(), `"previews"`) {
					t.Fatalf("api: %d %s, want a 503 without a list", rec.Code, rec.Body)
				}
				return
			}
			if strings.Contains(rec.Body.String(), "null") {
				t.Errorf("api answers null for a list: %s", rec.Body)
			}
			var snap apiSnapshot
			if err := json.Unmarshal(rec.Body.Bytes(), &snap); err != nil {
				t.Fatal(err)
			}
			if snap.Known != tc.known || snap.Complete != tc.complete || len(snap.Unavailable) != len(tc.snap.Unavailable) {
				t.Errorf("api known=%v complete=%v unavailable=%v, want %v %v %v", snap.Known, snap.Complete, snap.Unavailable, tc.known, tc.complete, tc.snap.Unavailable)
			}
		})
	}
}

// TestPage checks the rendered rows: states, countdowns, links, wake
// buttons, totals, and that titles are escaped.
func TestPage(t *testing.T) {
	t.Parallel()
	h := newHandler(t, Config{Access: AccessOpen, ArgoCDURL: "https://argocd.example.com", Commenter: &fakeCommenter{}})
	rec := serve(h, "GET", "/", "")
	page := rec.Body.String()
	for _, s := range []string{
		`<meta http-equiv="refresh" content="30">`,
		`data-state="live" data-repository="acme/backend" data-number="1"`,
		`data-state="sleeping" data-repository="acme/backend" data-number="12"`,
		`data-state="queued" data-repository="acme/payments" data-number="43"`,
		`>in 5h12m</time>`, `>in 1d22h</time>`,
		`href="https://argocd.example.com/applications/argocd/backend-pr-1-58d661"`,
		`href="https://argocd.example.com/applications/argocd/backend-pr-1-58d661?node=apps%2FDeployment%2Fbackend-pr-1-58d661%2Fapp%2F0&amp;tab=logs"`,
		`href="https://github.com/acme/backend/pull/1"`, `<code class="namespace">backend-pr-1-58d661</code>`,
		`0.0412 USD`, `position 1 of 2: 2 of 2 previews live in acme/payments`, `<span class="tag">pinned</span>`,
		`<code>payments</code> → pr-42`, `<a class="jira" href="https://jira.example.com/browse/ABC-123">ABC-123</a>`,
		`<dd id="total-live">2</dd>`, `<dd id="total-sleeping">1</dd>`, `<dd id="total-queue">1</dd>`,
		`<dd id="total-cost">1.06 USD <small>(1 without an estimate)</small></dd>`,
		`Sleepy &lt;script&gt;alert(1)&lt;/script&gt; change`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %s", s)
		}
	}
	if n := strings.Count(page, `<form method="post" action="/api/v1/previews/wake"`); n != 1 {
		t.Errorf("%d wake forms, want 1 (the sleeping preview)", n)
	}
	if strings.Contains(page, "<script>alert(1)") {
		t.Error("title not escaped")
	}
	// Without a GitHub client: no button, the way to wake instead.
	h = newHandler(t, Config{Access: AccessOpen})
	page = serve(h, "GET", "/", "").Body.String()
	if strings.Contains(page, `action="/api/v1/previews/wake"`) || !strings.Contains(page, "comment <code>/preview wake</code>") {
		t.Error("without a commenter the page must offer no button, only the comment")
	}
}

// TestWake covers the wake route's protections.
func TestWake(t *testing.T) {
	t.Parallel()
	form := "repository=acme%2Fbackend&number=12"
	tests := []struct {
		name     string
		cfg      Config
		body     string
		opts     []reqOpt
		code     int
		msg      string
		posts    int
		location string
	}{
		{name: "API client", body: form, code: 202, msg: "posted /preview wake on acme/backend#12", posts: 1},
		{name: "same-origin browser form", body: form, code: 303, posts: 1, location: "/?woke=acme%2Fbackend%2312",
			opts: []reqOpt{withHeader("Sec-Fetch-Site", "same-origin"), withHeader("Accept", "text/html,*/*")}},
		{name: "cross-site browser form", body: form, code: 403, msg: "cross-origin",
			opts: []reqOpt{withHeader("Sec-Fetch-Site", "cross-site")}},
		{name: "foreign Origin without Sec-Fetch-Site", body: form, code: 403, msg: "cross-origin",
			opts: []reqOpt{withHeader("Origin", "https://evil.example")}},
		{name: "JSON body", body: `{"repository":"acme/backend","number":12}`, code: 415, msg: "send a form",
			opts: []reqOpt{withHeader("Content-Type", "application/json")}},
		{name: "body too large", body: form + "&pad=" + strings.Repeat("x", MaxWakeBody), code: 413, msg: "larger than"},
		{name: "bad repository", body: "repository=acme&number=12", code: 400, msg: "want the fields"},
		{name: "bad number", body: "repository=acme%2Fbackend&number=-1", code: 400, msg: "want the fields"},
		{name: "query, not body", body: "", code: 400, msg: "want the fields"},
		{name: "live preview", body: "repository=acme%2Fbackend&number=1", code: 409, msg: "is live, not sleeping"},
		{name: "queued PR", body: "repository=acme%2Fpayments&number=43", code: 409, msg: "is queued, not sleeping"},
		{name: "any other PR", body: "repository=acme%2Fbackend&number=999", code: 404, msg: "has no listed preview"},
		{name: "case-insensitive repository", body: "repository=ACME%2FBackend&number=12", code: 202, posts: 1},
		{name: "no GitHub client", cfg: Config{Access: AccessOpen}, body: form, code: 501, msg: "no GitHub client"},
		{name: "GitHub fails", cfg: Config{Access: AccessOpen, Commenter: &fakeCommenter{fail: errGitHubDown}}, body: form, code: 502, msg: "GitHub answered 502"},
		{name: "source unavailable", cfg: Config{Access: AccessOpen, Commenter: &fakeCommenter{}, Source: &fakeSource{err: errGitHubDown}}, body: form, code: 503},
		{name: "token by header", cfg: Config{Access: AccessToken, Token: []byte(testToken), Commenter: &fakeCommenter{}}, body: form, code: 202, posts: 1,
			opts: []reqOpt{withHeader("Authorization", "Bearer "+testToken)}},
		{name: "token cookie, cross-site", cfg: Config{Access: AccessToken, Token: []byte(testToken), Commenter: &fakeCommenter{}}, body: form, code: 403, msg: "cross-origin",
			opts: []reqOpt{withCookie(cookieValue([]byte(testToken))), withHeader("Sec-Fetch-Site", "cross-site")}},
		{name: "proxy user named", body: form, code: 202, posts: 1,
			cfg:  Config{Access: AccessProxy, ProxyCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Commenter: &fakeCommenter{}},
			opts: []reqOpt{fromAddr("10.0.0.5:1"), withHeader("X-Forwarded-User", "@bob`\nx")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			if cfg.Access == "" {
				cfg.Access = AccessOpen
			}
			if cfg.Commenter == nil && tc.name != "no GitHub client" {
				cfg.Commenter = &fakeCommenter{}
			}
			h := newHandler(t, cfg)
			rec := serve(h, "POST", RouteWake, tc.body, tc.opts...)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.msg != "" && !strings.Contains(rec.Body.String(), tc.msg) {
				t.Errorf("body %s lacks %q", rec.Body, tc.msg)
			}
			if tc.location != "" && rec.Header().Get("Location") != tc.location {
				t.Errorf("Location %q, want %q", rec.Header().Get("Location"), tc.location)
			}
			fc, _ := cfg.Commenter.(*fakeCommenter)
			if fc == nil {
				return
			}
			if fc.count() != tc.posts {
				t.Fatalf("%d comments posted, want %d: %v", fc.count(), tc.posts, fc.posts)
			}
			if tc.posts == 0 {
				return
			}
			post := fc.posts[0]
			if !strings.HasPrefix(post, "acme/backend#12: /preview wake\n") {
				t.Errorf("comment %q", post)
			}
			if tc.name == "proxy user named" && !strings.Contains(post, "for `@bobx`") {
				t.Errorf("comment %q: want the user in a code span, without backticks or newlines", post)
			}
		})
	}
}

// TestWakeRateLimit: one wake per pull request per interval; a failed
// post does not count; other pull requests are not held up.
func TestWakeRateLimit(t *testing.T) {
	t.Parallel()
	now := testNow
	clock := func() time.Time { return now }
	fc := &fakeCommenter{}
	snap := fullSnapshot()
	other := FromParams("backend", sleepingParams())
	other.Number, other.Name = 13, "backend-pr-13-58d661"
	snap.Previews = append(snap.Previews, other)
	rm := &recMetrics{}
	h := newHandler(t, Config{Access: AccessOpen, Commenter: fc, Now: clock, WakeInterval: 5 * time.Minute, Source: &fakeSource{snap: snap}, Metrics: rm})
	wake := func(n string) *httptest.ResponseRecorder {
		return serve(h, "POST", RouteWake, "repository=acme%2Fbackend&number="+n)
	}
	if rec := wake("12"); rec.Code != 202 {
		t.Fatalf("first: %d", rec.Code)
	}
	rec := wake("12")
	var e errorBody
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "300" || !strings.Contains(e.Message, "woken <1m ago") {
		t.Fatalf("second: %d %s %q", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	if rec := wake("13"); rec.Code != 202 {
		t.Fatalf("another PR: %d", rec.Code)
	}
	// The page says the wake was asked for, and offers no button for it.
	page := serve(h, "GET", "/", "").Body.String()
	if !strings.Contains(page, "wake requested <time") || strings.Count(page, `class="wake"`) != 0 {
		t.Errorf("page after wakes: want 'wake requested' and no button")
	}
	now = now.Add(5 * time.Minute)
	if rec := wake("12"); rec.Code != 202 {
		t.Fatalf("after the interval: %d", rec.Code)
	}
	if fc.count() != 3 {
		t.Fatalf("%d posts, want 3", fc.count())
	}
	// A failed post can be retried at once.
	fc.fail = errGitHubDown
	now = now.Add(5 * time.Minute)
	if rec := wake("12"); rec.Code != 502 {
		t.Fatalf("failing: %d", rec.Code)
	}
	fc.fail = nil
	if rec := wake("12"); rec.Code != 202 {
		t.Fatalf("retry after a failure: %d %s", rec.Code, rec.Body)
	}
	if rm.wakes["posted"] != 4 || rm.wakes["rate_limited"] != 1 || rm.wakes["error"] != 1 || len(rm.wakes) != 3 {
		t.Errorf("wake metrics %v", rm.wakes)
	}
}

// TestWokeNotice: the page shows the notice only for an owner/repo#n.
func TestWokeNotice(t *testing.T) {
	t.Parallel()
	h := newHandler(t, Config{Access: AccessOpen})
	if page := serve(h, "GET", "/?woke=acme/backend%2312", "").Body.String(); !strings.Contains(page, "Posted /preview wake on acme/backend#12") {
		t.Error("no notice")
	}
	if page := serve(h, "GET", "/?woke=Your+account+is+locked", "").Body.String(); strings.Contains(page, "locked") {
		t.Error("the notice reflects arbitrary text")
	}
}
