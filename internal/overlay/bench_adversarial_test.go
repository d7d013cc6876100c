package overlay

import (
	"fmt"
	"strings"
	"testing"
)

// adversarialOverlays are .preview.yaml files a pull request's author could write to slow the
// parser down, each close to MaxFileBytes. The size is bounded and the parse time grows about
// linearly with it (measured: under 0.1 s for each at 64 KiB, docs/benchmarks.md). The first is the input the fuzzer's minimization stalled on (see
// hack/fuzz.sh), grown to the limit.
func adversarialOverlays() map[string][]byte {
	n := MaxFileBytes - 64
	var envMany, dupKeys strings.Builder
	envMany.WriteString("env:\n")
	for i := 0; envMany.Len() < n; i++ {
		fmt.Fprintf(&envMany, "  K%06d: v\n", i)
	}
	for dupKeys.Len() < n {
		dupKeys.WriteString("env:\n")
	}
	return map[string][]byte{
		"carriage-returns": []byte(strings.Repeat("\r", n) + "7"),
		"nested-lists":     []byte(strings.Repeat("[", n)),
		"nested-maps":      []byte(strings.Repeat("{a: ", n/4)),
		"env-entries":      []byte(envMany.String()),
		"duplicate-keys":   []byte(dupKeys.String()),
		"aliases":          []byte("env: &a {A: x}\n" + strings.Repeat("x: *a\n", n/6)),
	}
}

// BenchmarkParseOverlayAdversarial parses each adversarial file (errors expected).
func BenchmarkParseOverlayAdversarial(b *testing.B) {
	for name, data := range adversarialOverlays() {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				_, _ = Parse(".preview.yaml", data)
			}
		})
	}
}

// TestParseOverlayAdversarialSizes checks that every adversarial file is within the size limit
// (so the benchmark measures what a pull request can send) and that Parse refuses each with
// field errors rather than panicking or accepting it.
func TestParseOverlayAdversarialSizes(t *testing.T) {
	for name, data := range adversarialOverlays() {
		if len(data) > MaxFileBytes {
			t.Errorf("%s: %d bytes, over the %d-byte limit", name, len(data), MaxFileBytes)
		}
		_, err := Parse(".preview.yaml", data)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if fes, ok := fieldErrors(err); !ok || len(fes) == 0 {
			t.Errorf("%s: error is not made of *FieldError: %v", name, err)
		}
	}
}
