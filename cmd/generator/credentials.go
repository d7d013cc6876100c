package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/preview-generator/preview-generator/internal/credentials"
	"github.com/preview-generator/preview-generator/internal/metrics"
)

var _ credentials.Metrics = (*metrics.Metrics)(nil)

// credsConfig is what serve is told about the namespace credentials: off
// unless asked for.
type credsConfig struct {
	NamespaceCredentials  bool
	CredentialsNamespace  string
	CredentialsAuthSource string
	CredentialsPullSource string
	CredentialsResync     time.Duration
}

func (k *credsConfig) flags(fs *flag.FlagSet) {
	fs.BoolVar(&k.NamespaceCredentials, "namespace-credentials", false,
		"write Secrets "+credentials.AuthSecret+" and "+credentials.PullSecret+" into every live preview namespace (labelled "+
			credentials.ManagedByLabel+"="+credentials.ManagedBy+") from source Secrets in --credentials-namespace; with --leader-elect only the leader does (needs the ClusterRole preview-generator-credentials of deploy/rbac.yaml)")
	fs.StringVar(&k.CredentialsNamespace, "credentials-namespace", "", "namespace of the source Secrets for --namespace-credentials; empty: $POD_NAMESPACE")
	fs.StringVar(&k.CredentialsAuthSource, "credentials-auth-source", credentials.DefaultAuthSource,
		"source Secret of "+credentials.AuthSecret+": its keys htpasswd, client-id and client-secret are copied (missing: an empty htpasswd, so the edge lets nobody in)")
	fs.StringVar(&k.CredentialsPullSource, "credentials-pull-source", credentials.DefaultPullSource,
		"source Secret (kubernetes.io/dockerconfigjson) of "+credentials.PullSecret+"; empty: no "+credentials.PullSecret+" is written")
	fs.DurationVar(&k.CredentialsResync, "credentials-resync", credentials.DefaultResync,
		"how often every live preview namespace is checked against the watch caches (changes are seen at once; this pass costs no request when nothing changed)")
}

// fromPod fills the source namespace from the downward API when no flag
// or PREVIEW_ variable set it.
func (k *credsConfig) fromPod(getenv func(string) string) {
	if k.CredentialsNamespace == "" {
		k.CredentialsNamespace = getenv("POD_NAMESPACE")
	}
}

// check reports every invalid setting through bad, naming its flag.
func (k *credsConfig) check(bad func(flagName, format string, a ...any)) {
	if !k.NamespaceCredentials {
		return
	}
	name := func(flagName, value string, is func(string) []string) {
		if errs := is(value); len(errs) > 0 {
			bad(flagName, "%q: %s", value, strings.Join(errs, "; "))
		}
	}
	if k.CredentialsNamespace == "" {
		bad("credentials-namespace", "required with --namespace-credentials (or $POD_NAMESPACE from the downward API)")
	} else {
		name("credentials-namespace", k.CredentialsNamespace, validation.IsDNS1123Label)
	}
	name("credentials-auth-source", k.CredentialsAuthSource, validation.IsDNS1123Subdomain)
	if k.CredentialsPullSource != "" {
		name("credentials-pull-source", k.CredentialsPullSource, validation.IsDNS1123Subdomain)
	}
	if k.CredentialsResync < time.Second {
		bad("credentials-resync", "%s is below 1s", k.CredentialsResync)
	}
}

func (k *credsConfig) String() string {
	return fmt.Sprintf("namespace-credentials=%t credentials-namespace=%s credentials-auth-source=%s credentials-pull-source=%s credentials-resync=%s",
		k.NamespaceCredentials, k.CredentialsNamespace, k.CredentialsAuthSource, k.CredentialsPullSource, k.CredentialsResync)
}

// newCredentials returns the namespace credentials Controller and the
// current answer it reads (the HTTP server feeds it), or nils without
// --namespace-credentials.
func newCredentials(cfg *config, log *slog.Logger, m *metrics.Metrics) (*credentials.Controller, *credentials.Answers, error) {
	if !cfg.NamespaceCredentials {
		return nil, nil, nil
	}
	klogToSlog(log)
	answers := credentials.NewAnswers(nil)
	c, err := credentials.New(credentials.Config{
		Kubeconfig: cfg.Kubeconfig, Namespace: cfg.CredentialsNamespace,
		AuthSource: cfg.CredentialsAuthSource, PullSource: cfg.CredentialsPullSource, NoPull: cfg.CredentialsPullSource == "",
		Live: answers, Resync: cfg.CredentialsResync,
		Logger: log.With("component", "credentials"), Metrics: m,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("--namespace-credentials: %w", err)
	}
	return c, answers, nil
}
