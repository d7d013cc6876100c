// Command githttp serves the bare git repositories under a folder over smart HTTP on loopback,
// for the e2e stack: net/http/cgi in front of `git http-backend`.
//
//	githttp -root /tmp/preview-generator-e2e/data/git -listen 127.0.0.1:27090
//
// serves /tmp/.../git/gitops.git as http://127.0.0.1:27090/gitops.git (read and push).
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"net/http/cgi"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	root := flag.String("root", "", "folder holding the bare repositories (required)")
	listen := flag.String("listen", "127.0.0.1:27090", "address to listen on")
	backend := flag.String("backend", "/usr/lib/git-core/git-http-backend", "path of git-http-backend")
	flag.Parse()
	if *root == "" {
		log.Fatal("githttp: -root is required")
	}
	h := &cgi.Handler{
		Path: *backend,
		// http.receivepack: allow pushes without authentication (loopback test server only).
		Env: []string{"GIT_PROJECT_ROOT=" + *root, "GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true"},
	}
	srv := &http.Server{Addr: *listen, Handler: logRequests(h), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Printf("githttp: serving %s: %v", *listen, err)
			os.Exit(1)
		}
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Printf("githttp: shutdown: %v", err)
		}
	}
}

func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
		h.ServeHTTP(w, r)
	})
}
