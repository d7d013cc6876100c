package render

import (
	"testing"

	"github.com/preview-generator/preview-generator/internal/render/rendertest"
)

func TestCombinationsDecodeIntoKubernetesTypes(t *testing.T) {
	t.Parallel()
	for _, c := range combinations {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, o := range renderCombination(t, c).Objects {
				rendertest.DecodeTyped(t, o)
			}
		})
	}
}
