package overlay

import (
	"time"

	"gopkg.in/yaml.v3"
)

// sleepAfter reads defaults.sleepAfter: a positive duration, or 0 (sleep
// off).
func (d *decoder) sleepAfter(n *yaml.Node, path string) (time.Duration, bool) {
	if n.Kind == yaml.ScalarNode && n.Value == "0" {
		return 0, true
	}
	return d.duration(n, path)
}
