package dashboard

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// chromium finds the browser: $PREVIEW_CHROMIUM, /usr/bin/chromium or
// chromium on the PATH. Without one the test skips, unless
// PREVIEW_REQUIRE_CHROMIUM=1 (CI), where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("PREVIEW_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("PREVIEW_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("no Chromium (apt-get install chromium, or set PREVIEW_CHROMIUM) and PREVIEW_REQUIRE_CHROMIUM=1")
	}
	t.Skip("no Chromium; set PREVIEW_REQUIRE_CHROMIUM=1 to fail instead")
	return ""
}

// browserRow is what the test reads of one row in the browser.
type browserRow struct {
	State, Repository, Number, Expires, PR, ArgoCD, Logs, URL, Namespace, Deps, Cost string
	Wake                                                                             bool
}

const readRows = `JSON.stringify([...document.querySelectorAll('#previews tbody tr')].map(r => {
  const a = sel => { const e = r.querySelector(sel); return e ? (e.href || e.textContent.trim()) : ''; };
  return {State: r.dataset.state, Repository: r.dataset.repository, Number: r.dataset.number,
    Expires: a('td.expires > time'), PR: a('a.pr-link'), ArgoCD: a('a.argocd'), Logs: a('a.logs'), URL: a('a.url'),
    Namespace: a('code.namespace'), Deps: r.querySelector('td.deps').textContent.replace(/\s+/g, ' ').trim(),
    Cost: r.querySelector('td.cost').textContent.trim(), Wake: !!r.querySelector('form.wake button')};
}))`

// TestBrowser loads the dashboard in headless Chromium behind the token
// mode, checks what a person sees, presses the wake button of the
// sleeping preview and checks that GitHub (the fake) got the comment.
// Screenshots go to the test's artifact directory (go test -artifacts
// keeps them; the path is logged).
func TestBrowser(t *testing.T) {
	chrome := chromium(t)

	fake := githubtest.NewServer(t)
	fake.RequireToken("gh-token")
	fake.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 12, HeadSHA: strings.Repeat("c", 40), Labels: []string{"preview"}})
	gh, err := github.New(github.Config{BaseURL: fake.URL(), Token: "gh-token", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := newHandler(t, Config{
		Access: AccessToken, Token: []byte(testToken), Commenter: gh, ArgoCDURL: "https://argocd.example.com",
		Source: &fakeSource{snap: fullSnapshot()},
	})
	site := httptest.NewServer(h)
	t.Cleanup(site.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1400, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	dir := t.ArtifactDir()
	shot := func(name string) {
		t.Helper()
		png := run(t, bctx, chromedp.FullScreenshot(100))
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", p, len(png))
	}

	// Without the token: the login form, no data.
	do(t, bctx, chromedp.Navigate(site.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login")))
	if denied := run(t, bctx, chromedp.Text(chromedp.CSS("body"))); strings.Contains(denied, "Add login endpoint") || !strings.Contains(denied, "needs its token") {
		t.Fatalf("without the token the page shows: %q", denied)
	}

	// Sign in through the form: ?token= becomes a cookie and a clean URL.
	do(t, bctx,
		chromedp.SetValue(chromedp.CSS(`#login input[name="token"]`), testToken),
		chromedp.Submit(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#previews")))
	location := run(t, bctx, chromedp.Location())
	title := run(t, bctx, chromedp.Title())
	rowsJSON := run(t, bctx, chromedp.Evaluate[string](readRows))
	live := run(t, bctx, chromedp.Text(chromedp.CSS("#total-live")))
	sleeping := run(t, bctx, chromedp.Text(chromedp.CSS("#total-sleeping")))
	queue := run(t, bctx, chromedp.Text(chromedp.CSS("#total-queue")))
	cost := run(t, bctx, chromedp.Text(chromedp.CSS("#total-cost")))
	ages := run(t, bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#ages td')].map(e => e.textContent)`))
	// The Content-Security-Policy lets the page's own script run (by its
	// hash), and the style sheet apply.
	ticking := run(t, bctx, chromedp.Evaluate[string](`document.documentElement.dataset.ticking || ""`))
	weight := run(t, bctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#total-live')).fontWeight`))
	if ticking != "1" || weight != "600" {
		t.Errorf("inline script ran: %q, style applied (font-weight %q): the CSP hashes must match", ticking, weight)
	}
	shot("dashboard.png")
	if u, err := url.Parse(location); err != nil || u.Path != "/" || u.RawQuery != "" {
		t.Errorf("after signing in the URL is %q: want / without the token", location)
	}
	if title != "Previews" {
		t.Errorf("title %q", title)
	}
	var rows []browserRow
	if err := json.Unmarshal([]byte(rowsJSON), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows: %s", len(rows), rowsJSON)
	}
	wantStates := []string{"live acme/backend#1", "live acme/payments#42", "sleeping acme/backend#12", "queued acme/payments#43"}
	for i, w := range wantStates {
		if got := rows[i].State + " " + rows[i].Repository + "#" + rows[i].Number; got != w {
			t.Errorf("row %d: %s, want %s", i, got, w)
		}
	}
	first := rows[0]
	want := browserRow{
		State: "live", Repository: "acme/backend", Number: "1", Expires: "in 5h12m",
		PR: "https://github.com/acme/backend/pull/1", ArgoCD: "https://argocd.example.com/applications/argocd/backend-pr-1-58d661",
		Logs: "https://argocd.example.com/applications/argocd/backend-pr-1-58d661?node=apps%2FDeployment%2Fbackend-pr-1-58d661%2Fapp%2F0&tab=logs",
		URL:  "https://backend-pr-1-58d661.preview.example.com/", Namespace: "backend-pr-1-58d661", Deps: "—", Cost: "0.0412 USD",
	}
	if first != want {
		t.Errorf("first row\n got %+v\nwant %+v", first, want)
	}
	if sl := rows[2]; !sl.Wake || sl.Expires != "in 1d22h" || !strings.Contains(sl.Deps, "payments → pr-42") {
		t.Errorf("sleeping row %+v: want a wake button, its countdown and its dependency", sl)
	}
	if rows[0].Wake || rows[1].Wake || rows[3].Wake {
		t.Error("a wake button on a preview that is not sleeping")
	}
	if live != "2" || sleeping != "1" || queue != "1" || !strings.HasPrefix(cost, "1.06 USD") {
		t.Errorf("totals: live %q sleeping %q queue %q cost %q", live, sleeping, queue, cost)
	}
	if strings.Join(ages, ",") != "0,1,0,1,0,1" {
		t.Errorf("ages %v", ages)
	}

	// Wake the sleeping preview.
	do(t, bctx,
		chromedp.Click(chromedp.CSS(`tr[data-state="sleeping"] form.wake button`)),
		chromedp.WaitVisible(chromedp.CSS("#notice")))
	notice := run(t, bctx, chromedp.Text(chromedp.CSS("#notice")))
	after := run(t, bctx, chromedp.Text(chromedp.CSS(`tr[data-state="sleeping"] td.state-cell`)))
	shot("dashboard-after-wake.png")
	if !strings.Contains(notice, "Posted /preview wake on acme/backend#12") || !strings.Contains(after, "wake requested <1m ago") {
		t.Errorf("after the wake: notice %q, row %q", notice, after)
	}
	comments := fake.IssueComments("acme/backend", 12)
	if len(comments) != 1 || !strings.HasPrefix(comments[0].Body, "/preview wake\n") {
		t.Fatalf("GitHub got %+v, want one /preview wake comment", comments)
	}
	if n := fake.Count(githubtest.RouteIssueCommentCreate, 201); n != 1 {
		t.Errorf("%d comment requests answered 201, want 1", n)
	}
	if n := fake.Count("", 0); n != 1 {
		t.Errorf("%d GitHub requests in all, want 1 (the comment)", n)
	}
}

// run runs one browser action and returns its value, failing the test on
// an error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// do runs browser steps, failing the test on an error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}
