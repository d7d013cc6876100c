package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCredentialsMetrics(t *testing.T) {
	t.Parallel()
	m := New()
	m.CredentialsWrite("preview-auth", "created")
	m.CredentialsWrite("preview-auth", "created")
	m.CredentialsWrite("preview-pull", "error")
	m.CredentialsForeign("preview-auth", 2)
	m.CredentialsForeign("preview-auth", 1)
	m.CredentialsSourceMissing("preview-pull-source", true)
	m.CredentialsSourceMissing("preview-auth-source", true)
	m.CredentialsSourceMissing("preview-auth-source", false)
	m.CredentialsNamespaces(3)
	want := `
# HELP preview_generator_credentials_foreign_secrets Live preview namespaces holding a Secret of this name that the generator did not write and leaves alone, by secret.
# TYPE preview_generator_credentials_foreign_secrets gauge
preview_generator_credentials_foreign_secrets{secret="preview-auth"} 1
# HELP preview_generator_credentials_namespaces Live preview namespaces that exist with the managed-by label: those the leader keeps credentials in.
# TYPE preview_generator_credentials_namespaces gauge
preview_generator_credentials_namespaces 3
# HELP preview_generator_credentials_source_missing 1 while a source Secret of the namespace credentials is missing from the generator's namespace, by source (its name).
# TYPE preview_generator_credentials_source_missing gauge
preview_generator_credentials_source_missing{source="preview-auth-source"} 0
preview_generator_credentials_source_missing{source="preview-pull-source"} 1
# HELP preview_generator_credentials_writes_total Writes of a namespace credentials Secret into a preview namespace, by secret (preview-auth, preview-pull) and outcome (created, updated, conflict, error).
# TYPE preview_generator_credentials_writes_total counter
preview_generator_credentials_writes_total{outcome="created",secret="preview-auth"} 2
preview_generator_credentials_writes_total{outcome="error",secret="preview-pull"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"preview_generator_credentials_foreign_secrets", "preview_generator_credentials_namespaces",
		"preview_generator_credentials_source_missing", "preview_generator_credentials_writes_total"); err != nil {
		t.Error(err)
	}
}
