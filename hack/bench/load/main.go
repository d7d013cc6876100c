// Command load puts the real generator binary under load on loopback and
// reports throughput, errors, latency percentiles and the server's memory.
//
// It writes a PR file with -n live, labelled pull requests over 10
// repositories (the same shape as internal/server's benchmarks), starts
// `generator serve --prs-file` as a subprocess, waits for /readyz, checks
// one answer holds all -n previews, then runs -clients concurrent pollers
// for -duration. Each poller asks as Argo CD's plugin client does: POST
// /api/v1/getparams.execute with the bearer token and Accept-Encoding: gzip,
// for all 10 repositories, over keep-alive connections, one request after
// the other with no pause (a closed loop). Latency runs until the last
// byte of the (compressed) answer is read. Any transport error, non-200
// status or answer that is not gzip counts as an error.
//
// The server's VmRSS and VmHWM come from /proc/<pid>/status, sampled every
// second (the table reports the last sample and the peak).
//
//	go build -o bin/generator ./cmd/generator
//	go run ./hack/bench/load -generator bin/generator -n 1000 -clients 100 -duration 60s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const pluginToken = "0123456789abcdef0123-load"

func main() {
	bin := flag.String("generator", "bin/generator", "the generator binary to run")
	n := flag.Int("n", 1000, "live previews (labelled open pull requests)")
	clients := flag.Int("clients", 100, "concurrent pollers")
	duration := flag.Duration("duration", 60*time.Second, "how long the pollers run")
	flag.Parse()
	if err := run(*bin, *n, *clients, *duration); err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		os.Exit(1)
	}
}

// prFile writes n labelled, live pull requests over 10 repositories.
func prFile(n int) []byte {
	var b bytes.Buffer
	b.WriteString("pullRequests:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - repository: acme/service-%d\n    number: %d\n    title: Change number %d with a realistic title\n"+
			"    author: dev%d\n    labels: [preview, team-%d]\n    headBranch: feature/change-%d\n"+
			"    headSHA: %040x\n    created: 30h\n    updated: 1h\n", i%10, i, i, i%37, i%5, i, i*7919)
	}
	return b.Bytes()
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// memory reads VmRSS and VmHWM (KiB) of pid.
func memory(pid int) (rss, hwm int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss, _ = strconv.Atoi(f[1])
		case "VmHWM:":
			hwm, _ = strconv.Atoi(f[1])
		}
	}
	return rss, hwm, nil
}

func run(bin string, n, clients int, duration time.Duration) error {
	dir, err := os.MkdirTemp("", "load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "prs.yaml")
	if err := os.WriteFile(file, prFile(n), 0o600); err != nil {
		return err
	}
	addr, err := freePort()
	if err != nil {
		return err
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", "--prs-file", file, "--plugin-token", pluginToken,
		"--listen", addr, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(runtime.NumCPU()))
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	base := "http://" + addr
	if err := waitReady(base, exited); err != nil {
		return fmt.Errorf("%w; log:\n%s", err, logs.String())
	}

	var repos []string
	for i := range 10 {
		repos = append(repos, fmt.Sprintf("acme/service-%d", i))
	}
	reqBody, _ := json.Marshal(map[string]any{
		"applicationSetName": "previews",
		"input":              map[string]any{"parameters": map[string]any{"repositories": repos}},
	})
	if err := checkAnswer(base, reqBody, n); err != nil {
		return err
	}
	rssIdle, _, _ := memory(cmd.Process.Pid)

	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()

	var (
		errs    atomic.Int64
		firstEr atomic.Value
		bytesIn atomic.Int64
		mu      sync.Mutex
		lat     []time.Duration
		wg      sync.WaitGroup
	)
	// Memory, every second.
	var rssLast, hwm int
	memDone := make(chan struct{})
	go func() {
		defer close(memDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				rssLast, hwm, _ = memory(cmd.Process.Pid)
				return
			case <-t.C:
				rssLast, hwm, _ = memory(cmd.Process.Pid)
			}
		}
	}()
	load0, _ := os.ReadFile("/proc/loadavg")
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/getparams.execute", bytes.NewReader(reqBody))
				req.Header.Set("Authorization", "Bearer "+pluginToken)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept-Encoding", "gzip")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					firstEr.CompareAndSwap(nil, err.Error())
					continue
				}
				m, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				switch {
				case err != nil:
					errs.Add(1)
					firstEr.CompareAndSwap(nil, err.Error())
				case resp.StatusCode != http.StatusOK:
					errs.Add(1)
					firstEr.CompareAndSwap(nil, "status "+resp.Status)
				case resp.Header.Get("Content-Encoding") != "gzip":
					errs.Add(1)
					firstEr.CompareAndSwap(nil, "answer not gzip")
				default:
					bytesIn.Add(m)
					local = append(local, d)
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	<-memDone
	load1, _ := os.ReadFile("/proc/loadavg")
	select {
	case err := <-exited:
		return fmt.Errorf("generator exited during the run: %v; log:\n%s", err, logs.String())
	default:
	}

	slices.Sort(lat)
	pct := func(p int) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, len(lat)*p/100)]
	}
	ok := len(lat)
	total := int64(ok) + errs.Load()
	fmt.Printf("load: generator serve --prs-file, %d previews over 10 repositories, %d clients for %s; %s, %d CPUs; %s\n",
		n, clients, duration, runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("load average before %s, after %s\n", fields3(load0), fields3(load1))
	if e, _ := firstEr.Load().(string); e != "" {
		fmt.Printf("first error: %s\n", e)
	}
	fmt.Println()
	fmt.Println("| previews | clients | duration | requests | errors | requests/s | p50 | p90 | p99 | max | answer (gzip) | server RSS idle / end / peak |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	avg := int64(0)
	if ok > 0 {
		avg = bytesIn.Load() / int64(ok)
	}
	fmt.Printf("| %d | %d | %s | %d | %d | %.0f | %s | %s | %s | %s | %.1f KB | %.1f / %.1f / %.1f MiB |\n",
		n, clients, elapsed.Round(100*time.Millisecond), total, errs.Load(), float64(total)/elapsed.Seconds(),
		ms(pct(50)), ms(pct(90)), ms(pct(99)), ms(pct(100)), float64(avg)/1000,
		float64(rssIdle)/1024, float64(rssLast)/1024, float64(hwm)/1024)
	if errs.Load() > 0 {
		return fmt.Errorf("%d errors", errs.Load())
	}
	return nil
}

func fields3(b []byte) string {
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

func waitReady(base string, exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("generator exited: %v", err)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("generator not ready after 60s")
}

// checkAnswer asks once (plain JSON) and checks the answer holds n
// previews.
func checkAnswer(base string, body []byte, n int) error {
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/getparams.execute", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+pluginToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var ans struct {
		Output struct {
			Parameters []map[string]any `json:"parameters"`
		} `json:"output"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("warm-up: status %d: %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if len(ans.Output.Parameters) != n {
		return fmt.Errorf("warm-up: %d previews, want %d", len(ans.Output.Parameters), n)
	}
	return nil
}
