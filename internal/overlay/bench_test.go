package overlay

import (
	"os"
	"testing"
)

// BenchmarkParseOverlay parses the documented .preview.yaml.
func BenchmarkParseOverlay(b *testing.B) {
	data, err := os.ReadFile("testdata/preview.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(".preview.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
