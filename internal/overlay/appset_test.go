package overlay

import (
	"os"
	"strings"
	"testing"
)

// The rendering of docs/overlay-config.md's example ApplicationSet
// (testdata/appset.yaml) is tested at the repository's root
// (overlay_appset_test.go), out of this package's test binary.

// docs/overlay-config.md shows the testdata files verbatim, so the
// documented examples are the tested ones.
func TestDocsShowTheTestedExamples(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/overlay-config.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"preview.yaml", "config.yaml", "appset.yaml"} {
		b, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "```yaml\n"+string(b)+"```\n") {
			t.Errorf("docs/overlay-config.md does not show testdata/%s verbatim in a yaml block", f)
		}
	}
}
