//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// appsetMetricsPort is hack/e2e's port of the ApplicationSet controller's metrics.
const appsetMetricsPort = 27085

// metricSum reads the Prometheus text exposition at url and sums the samples of the metric name
// whose labels include every pair of labels. A metric with no such sample sums to 0.
func metricSum(ctx context.Context, url, name string, labels map[string]string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("building the request for %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading metrics at %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("reading metrics at %s: %s", url, resp.Status)
	}
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
sample:
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		labelText, value := "", rest
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				continue
			}
			labelText, value = rest[1:end], rest[end+1:]
		}
		for k, v := range labels {
			if !strings.Contains(","+labelText+",", ","+k+"="+strconv.Quote(v)+",") {
				continue sample
			}
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s at %s: %q: %w", name, url, line, err)
		}
		sum += f
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading metrics at %s: %w", url, err)
	}
	return sum, nil
}

// appsetReconciles is how many times the ApplicationSet controller has reconciled the
// ApplicationSet name (each reconciliation calls its plugin generator once).
func appsetReconciles(ctx context.Context, name string) (int, error) {
	v, err := metricSum(ctx, "http://"+localPort(appsetMetricsPort)+"/metrics", "argocd_appset_reconcile_count",
		map[string]string{"name": name, "namespace": "argocd"})
	return int(v), err
}

// generatorRefreshes is how many refreshes of repo the generator at addr has attempted since it
// started, failed ones included.
func generatorRefreshes(ctx context.Context, addr, repo string) (int, error) {
	v, err := metricSum(ctx, "http://"+addr+"/metrics", "preview_generator_syncs_total", map[string]string{"repo": repo})
	return int(v), err
}
