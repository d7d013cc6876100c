package server

import (
	"fmt"
	"slices"
	"strings"
)

// checkSchedulingProfile checks the schedulingProfile input parameter: ""
// (no profile, the cluster's default nodes) or a profile of the server
// config (known).
func checkSchedulingProfile(s string, known []string) error {
	switch {
	case s == "" || slices.Contains(known, s):
		return nil
	case len(known) == 0:
		return fmt.Errorf("%q is not a scheduling profile: the server config defines none (schedulingProfiles)", s)
	default:
		return fmt.Errorf("%q is not a scheduling profile (known: %s)", s, strings.Join(known, ", "))
	}
}
