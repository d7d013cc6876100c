package overlay

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Extra environment variables are not secret: they end up in the
// Application spec, the Argo CD UI and the generator's answer. The checks
// below keep names portable and refuse what looks like a credential, as a
// safety net; they cannot prove a value is harmless.

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedEnvPrefixes are set by the platform, not by a PR.
var reservedEnvPrefixes = []string{"PREVIEW_", "KUBERNETES_"}

// secretNameParts mark a variable name as a credential (upper-cased match).
var secretNameParts = []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "API_KEY", "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL"}

// secretValues match well-known credential formats.
var secretValues = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a PEM private key or certificate", regexp.MustCompile(`-----BEGIN [A-Z ]+-----`)},
	{"a GitHub token", regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})`)},
	{"an AWS access key ID", regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"a Slack token", regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`)},
	{"a Stripe live key", regexp.MustCompile(`\b[rs]k_live_[A-Za-z0-9]{10,}`)},
	{"a JSON Web Token", regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.`)},
	{"a URL with a password", regexp.MustCompile(`://[^/\s:@]+:[^/\s@]+@`)},
}

// checkEnvName checks an extra environment variable's name.
func checkEnvName(name string) error {
	if len(name) > MaxEnvNameBytes {
		return fmt.Errorf("name longer than %d bytes", MaxEnvNameBytes)
	}
	if !envName.MatchString(name) {
		return fmt.Errorf("%q is not an environment variable name (letters, digits and '_', not starting with a digit)", name)
	}
	upper := strings.ToUpper(name)
	for _, p := range reservedEnvPrefixes {
		if strings.HasPrefix(upper, p) {
			return fmt.Errorf("%q: names starting with %s are reserved for the platform", name, p)
		}
	}
	for _, p := range secretNameParts {
		if strings.Contains(upper, p) {
			return fmt.Errorf("%q looks like a secret (contains %s); env values are not secret: they appear in the Argo CD Application, so use a Secret instead", name, p)
		}
	}
	return nil
}

// checkEnvValue checks an extra environment variable's value.
func checkEnvValue(v string) error {
	if len(v) > MaxEnvValueBytes {
		return fmt.Errorf("value longer than %d bytes", MaxEnvValueBytes)
	}
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return errors.New("value is not valid UTF-8 text")
	}
	for _, s := range secretValues {
		if s.re.MatchString(v) {
			return fmt.Errorf("value looks like %s; env values are not secret: they appear in the Argo CD Application, so use a Secret instead", s.what)
		}
	}
	return nil
}

// checkCommand checks a migration command.
func checkCommand(s string) error {
	if len(s) > MaxMigrateCmdBytes {
		return fmt.Errorf("longer than %d bytes", MaxMigrateCmdBytes)
	}
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return errors.New("not valid UTF-8 text")
	}
	return nil
}
