package main

import (
	"log/slog"
	"time"

	"github.com/preview-generator/preview-generator/internal/status"
	"github.com/preview-generator/preview-generator/internal/store"
)

// lifecycle is how the store reads "/preview extend" commands: from
// GitHub, for the pull requests whose expiry without an extension is
// within the TTL warning and two refreshes, under the smallest TTL the
// server knows (--default-ttl and the catalog's inputs). An ApplicationSet
// asking for a smaller ttl sees its PRs' extensions only from then on.
// Nothing without GitHub.
func (src *source) lifecycle(cfg *config) store.LifecycleConfig {
	if src.gh == nil {
		return store.LifecycleConfig{}
	}
	ttl := cfg.DefaultTTL
	for _, o := range cfg.targets {
		if o.TTL > 0 && o.TTL < ttl {
			ttl = o.TTL
		}
	}
	interval := cfg.ResyncInterval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	return store.LifecycleConfig{
		Comments: store.GitHubComments{Client: src.gh},
		Window:   max(ttl-max(cfg.TTLWarning, 0)-2*interval, 0),
		MaxTTL:   cfg.MaxTTL,
	}
}

// expiry is the TTL warning's poster, or nil without GitHub or with
// --ttl-warning=0.
func (src *source) expiry(cfg *config, log *slog.Logger) *status.Expiry {
	if src.gh == nil || cfg.TTLWarning <= 0 {
		return nil
	}
	return status.NewExpiry(src.gh, cfg.TTLWarning, log.With("component", "expiry-status"), nil)
}
