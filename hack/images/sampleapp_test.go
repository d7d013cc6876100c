package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSampleAppOnSeed runs the sample app's image against the seed image
// in a private containerd, as a preview does: its migrate command through
// `sh -c` (twice: the second applies nothing), then `serve`, whose
// /api/info shows the seeded rows and the latest migration.
func TestSampleAppOnSeed(t *testing.T) {
	newPGRunner(t)
	c, ctx := startWithImages(t, 5*time.Minute, "seed-postgres", "sample-app")
	pgEnv := runSeedContainer(ctx, t, c, "seed-for-app")
	var envArgs []string
	for _, e := range pgEnv {
		envArgs = append(envArgs, "--env", e)
	}

	for i, want := range []string{"4 applied, 0 already applied", "0 applied, 4 already applied"} {
		id := "migrate-" + strconv.Itoa(i)
		args := append(append([]string{"run", "--rm", "--net-host"}, envArgs...), SampleAppRef, id, "/bin/sh", "-c", "sample-app migrate")
		out, err := c.ctr(ctx, args...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, want) {
			t.Errorf("migrate run %d: want %q in\n%s", i+1, want, out)
		}
	}

	port := freePort(t)
	args := append(append([]string{"run", "-d", "--net-host"}, envArgs...),
		"--env", "PORT="+strconv.Itoa(port), "--env", "APP_NAME=backend", "--env", "BACKEND_URL=http://127.0.0.1:1",
		SampleAppRef, "app")
	if _, err := c.ctr(ctx, args...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.remove("app") })
	var body []byte
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/api/info")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app never answered /api/info: %v %s", err, body)
		}
		time.Sleep(300 * time.Millisecond)
	}
	var got struct {
		App      string `json:"app"`
		Database struct {
			SeedRows        int    `json:"seed_rows"`
			LatestMigration string `json:"latest_migration"`
		} `json:"database"`
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got.App != "backend" || got.Database.SeedRows != 5 || got.Database.LatestMigration != "0004" || got.Dependencies["BACKEND_URL"] == "" {
		t.Errorf("/api/info: %s", body)
	}
	out, err := c.ctr(ctx, "tasks", "exec", "--exec-id", "uid", "app", "id", "-u")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "65532" {
		t.Errorf("the app runs as uid %q, want 65532", out)
	}
}
