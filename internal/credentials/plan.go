package credentials

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Operations a plan asks for.
const (
	opNone    = ""        // the copy is as it should be, or there is none to make
	opCreate  = "create"  // no Secret of that name: create it
	opUpdate  = "update"  // our copy differs: update it
	opForeign = "foreign" // a Secret of that name that is not ours: leave it
)

// emptyDockerConfig is what preview-pull holds once its source is gone: no
// registry credentials, so pulls are anonymous, as without the Secret.
var emptyDockerConfig = []byte(`{"auths":{}}`)

// Owned reports whether s is a copy this package wrote: it carries
// ManagedByLabel=ManagedBy and CopiedFromLabel. The managed-by label
// alone is not enough: kustomize/base puts it on everything a preview
// renders.
func Owned(s *corev1.Secret) bool {
	return s != nil && s.Labels[ManagedByLabel] == ManagedBy && s.Labels[CopiedFromLabel] != ""
}

// NewCookieSecret returns a new cookie secret: 32 random bytes, base64url
// encoded with padding (44 characters), the form oauth2-proxy decodes into
// an AES-256 key.
func NewCookieSecret() ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("reading 32 random bytes for the cookie secret: %w", err)
	}
	return []byte(base64.URLEncoding.EncodeToString(b)), nil
}

// validCookieSecret reports whether b is a cookie secret this package
// could have made: 32 bytes once base64url-decoded.
func validCookieSecret(b []byte) bool {
	d, err := base64.URLEncoding.DecodeString(string(b))
	return err == nil && len(d) == 32
}

// source is what a plan knows of a source Secret.
type source struct {
	namespace, name string
	// secret is nil when the source does not exist.
	secret *corev1.Secret
}

// planAuth returns the preview-auth Secret that namespace ns should hold,
// given the source (src.secret nil: missing) and the Secret of that name
// there now (cur, nil: none), and the operation that gets it there. The
// cookie secret of our current copy is kept when it is valid; otherwise
// newCookie makes one. want is nil unless op is opCreate or opUpdate.
func planAuth(ns string, src source, cur *corev1.Secret, newCookie func() ([]byte, error)) (want *corev1.Secret, op string, err error) {
	if cur != nil && !Owned(cur) {
		return nil, opForeign, nil
	}
	data := map[string][]byte{KeyHTPasswd: {}}
	if s := src.secret; s != nil {
		if v, ok := s.Data[KeyHTPasswd]; ok {
			data[KeyHTPasswd] = v
		}
		for _, k := range []string{KeyClientID, KeyClientSecret} {
			if v, ok := s.Data[k]; ok && len(v) > 0 {
				data[k] = v
			}
		}
	}
	if cur != nil && validCookieSecret(cur.Data[KeyCookieSecret]) {
		data[KeyCookieSecret] = cur.Data[KeyCookieSecret]
	} else {
		c, err := newCookie()
		if err != nil {
			return nil, opNone, err
		}
		data[KeyCookieSecret] = c
	}
	return plan(ns, AuthSecret, corev1.SecretTypeOpaque, data, src, cur)
}

// planPull returns the preview-pull Secret that namespace ns should hold
// and the operation that gets it there, as planAuth does. Without a
// source, no copy is made, and a copy we made before is emptied (no
// registry credentials). A source that is no kubernetes.io/dockerconfigjson
// Secret with a .dockerconfigjson is an error, and nothing changes.
func planPull(ns string, src source, cur *corev1.Secret) (want *corev1.Secret, op string, err error) {
	if cur != nil && !Owned(cur) {
		return nil, opForeign, nil
	}
	config := emptyDockerConfig
	if s := src.secret; s != nil {
		if s.Type != corev1.SecretTypeDockerConfigJson || len(s.Data[corev1.DockerConfigJsonKey]) == 0 {
			return nil, opNone, fmt.Errorf("source Secret %s/%s is of type %q: want %s with key %s",
				src.namespace, src.name, s.Type, corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey)
		}
		config = s.Data[corev1.DockerConfigJsonKey]
	} else if cur == nil {
		return nil, opNone, nil // nothing to copy, nothing copied
	}
	return plan(ns, PullSecret, corev1.SecretTypeDockerConfigJson, map[string][]byte{corev1.DockerConfigJsonKey: config}, src, cur)
}

// plan compares the wanted Secret with our current copy (cur, nil: none).
func plan(ns, name string, typ corev1.SecretType, data map[string][]byte, src source, cur *corev1.Secret) (*corev1.Secret, string, error) {
	labels := map[string]string{ManagedByLabel: ManagedBy, CopiedFromLabel: src.name}
	annotations := map[string]string{CopiedFromAnnotation: src.namespace + "/" + src.name}
	if cur == nil {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: annotations},
			Type:       typ,
			Data:       data,
		}, opCreate, nil
	}
	if cur.Type != typ {
		// The type is immutable; only a deletion can fix it.
		return nil, opNone, fmt.Errorf("the Secret %s/%s is of type %q, want %q: delete it and it is made again", ns, name, cur.Type, typ)
	}
	if maps.EqualFunc(cur.Data, data, bytes.Equal) && subset(labels, cur.Labels) && subset(annotations, cur.Annotations) {
		return nil, opNone, nil
	}
	want := cur.DeepCopy()
	want.Data = data
	want.StringData = nil
	if want.Labels == nil {
		want.Labels = map[string]string{}
	}
	maps.Copy(want.Labels, labels)
	if want.Annotations == nil {
		want.Annotations = map[string]string{}
	}
	maps.Copy(want.Annotations, annotations)
	return want, opUpdate, nil
}

// subset reports whether every entry of a is in b.
func subset(a, b map[string]string) bool {
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
