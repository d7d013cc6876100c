package params

import (
	"encoding/json"
	"maps"
	"slices"
)

// Scheduling parameter keys: the scheduling profile a preview runs under
// and what the ApplicationSet templates patch into every pod template.
const (
	// KeySchedulingProfile is the profile's name ("" when none).
	KeySchedulingProfile = "scheduling_profile"
	// KeyScheduling is the profile as JSON: {"nodeSelector": {...},
	// "tolerations": [...], "priorityClassName": "..."}, each key present
	// only when set; "" when no profile applies.
	KeyScheduling = "scheduling"
)

// Toleration is one pod toleration of a scheduling profile, with the
// field names and meaning of Kubernetes' core/v1 Toleration.
type Toleration struct {
	Key      string `json:"key,omitempty"`
	Operator string `json:"operator,omitempty"`
	Value    string `json:"value,omitempty"`
	Effect   string `json:"effect,omitempty"`
	// TolerationSeconds is set only with effect NoExecute.
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// SchedulingProfile is a named set of scheduling constraints from the
// server config (schedulingProfiles.<name>): where a preview's pods run,
// and what that costs relative to the price table.
type SchedulingProfile struct {
	// NodeSelector is copied into every pod template's nodeSelector.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations are copied into every pod template.
	Tolerations []Toleration `json:"tolerations,omitempty"`
	// PriorityClassName is every pod's priority class ("" leaves it unset).
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// PriceFactor multiplies the compute part of the cost estimate (spot
	// nodes: e.g. 0.35). It is not published in the scheduling parameter.
	PriceFactor float64 `json:"-"`
}

// SchedulingProfiles are the profiles of the server config, by name.
type SchedulingProfiles map[string]SchedulingProfile

// Names returns the profile names, sorted.
func (s SchedulingProfiles) Names() []string {
	return slices.Sorted(maps.Keys(s))
}

// AddScheduling sets scheduling_profile and scheduling in m for the
// profile named name. An empty name, or one profiles does not define
// (input and .preview.yaml are checked before this, so only a hand-built
// Options can carry one), sets both to "".
func AddScheduling(m map[string]string, name string, profiles SchedulingProfiles) {
	p, ok := profiles[name]
	if name == "" || !ok {
		m[KeySchedulingProfile], m[KeyScheduling] = "", ""
		return
	}
	b, _ := json.Marshal(p) // strings, maps of strings and ints: cannot fail
	m[KeySchedulingProfile], m[KeyScheduling] = name, string(b)
}
