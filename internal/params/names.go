package params

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// MaxDNSLabel is the longest DNS-1123 label: namespaces, Application
// instance label values and host labels all share this bound.
const MaxDNSLabel = 63

// MaxBranchSlug bounds branch_slug so it fits inside image tags and labels
// together with a prefix chosen by the operator.
const MaxBranchSlug = 50

// hashLen is the number of hex characters of the identity hash in names.
const hashLen = 6

// Slug lowercases s and maps it onto the DNS-1123 label alphabet
// [a-z0-9-]: accents are folded to their base letter, every other rune
// becomes a hyphen, runs of hyphens collapse, and leading/trailing hyphens
// are trimmed. The result may be empty; it is not length-bounded.
func Slug(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	hyphen := false
	for _, r := range norm.NFKD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue // combining mark of a decomposed accent
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			hyphen = false
		case r >= 'A' && r <= 'Z':
			b.WriteRune(unicode.ToLower(r))
			hyphen = false
		default:
			if !hyphen && b.Len() > 0 {
				b.WriteByte('-')
				hyphen = true
			}
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// shortHash returns the first n hex characters of sha256(s).
func shortHash(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

// cut returns s shortened to at most n bytes without a trailing hyphen.
// s must be ASCII (the output of Slug).
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimRight(s[:n], "-")
}

// PreviewName returns the name shared by a preview's Application and
// namespace: "<repo slug>-pr-<number>-<hash>", where hash is six hex
// characters of sha256 of the case-folded "owner/repo". The hash makes the
// name collision-free across owners and across repository names that slug
// alike ("my_app" and "my-app"); the repo slug is cut so the whole name is a
// DNS-1123 label of at most 63 characters. The same inputs always give the
// same name, so it is stable across polls, restarts and replicas.
func PreviewName(owner, repo string, number int) string {
	h := shortHash(strings.ToLower(owner+"/"+repo), hashLen)
	suffix := "pr-" + strconv.Itoa(number) + "-" + h
	base := cut(Slug(repo), MaxDNSLabel-len(suffix)-1)
	if base == "" {
		return suffix
	}
	return base + "-" + suffix
}

// BranchSlug returns a DNS-1123 label of at most MaxBranchSlug characters
// for a branch name. When the slug must be cut, or the branch slugs to
// nothing, a hash of the full branch name is appended so distinct long
// branches keep distinct slugs.
func BranchSlug(branch string) string {
	s := Slug(branch)
	if len(s) <= MaxBranchSlug && s != "" {
		return s
	}
	h := shortHash(branch, hashLen)
	base := cut(s, MaxBranchSlug-hashLen-1)
	if base == "" {
		return "b-" + h
	}
	return base + "-" + h
}
