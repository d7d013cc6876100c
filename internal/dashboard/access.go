package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Access is who may read the dashboard and press its wake buttons.
type Access string

// The access modes.
const (
	// AccessOff serves no dashboard route (404): the default.
	AccessOff Access = "off"
	// AccessOpen lets anyone who reaches the port read and wake.
	AccessOpen Access = "open"
	// AccessToken asks for a bearer token: "Authorization: Bearer <t>", or
	// in a browser the cookie that GET /?token=<t> sets.
	AccessToken Access = "token"
	// AccessProxy trusts the user header of an auth proxy (oauth2-proxy:
	// X-Forwarded-User, see DefaultProxyUserHeaders), and only from the
	// proxy's source addresses.
	AccessProxy Access = "proxy"
)

// ParseAccess reads an access mode.
func ParseAccess(s string) (Access, error) {
	switch a := Access(strings.ToLower(strings.TrimSpace(s))); a {
	case AccessOff, AccessOpen, AccessToken, AccessProxy:
		return a, nil
	}
	return "", fmt.Errorf("dashboard access %q: want off, open, token or proxy", s)
}

// DefaultProxyUserHeaders name the user as oauth2-proxy in front of an
// upstream does (--pass-user-headers, its default, which also strips a
// client's own X-Forwarded-User): the previews' edge. Behind an ingress
// that asks oauth2-proxy with auth_request, the header is
// X-Auth-Request-User (--set-xauthrequest). Name only headers the proxy
// always sets: a header it passes through from the client would let the
// client name itself.
var DefaultProxyUserHeaders = []string{"X-Forwarded-User"}

// CookieName is the cookie of the token mode.
const CookieName = "preview_dashboard"

// MinTokenBytes is the shortest token the token mode accepts.
const MinTokenBytes = 16

// ParseCIDRs reads a comma-separated list of CIDRs or addresses (an
// address is its own /32 or /128).
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("proxy source %q: want a CIDR or an address: %w", f, err)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("proxy source %q: want a CIDR or an address: %w", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// denial is why a request may not see the dashboard: 401 (no credential)
// or 403 (a wrong one, or the wrong way in).
type denial struct {
	code    int
	message string
	// login: the token mode's login form helps.
	login bool
}

// principal is who made an allowed request: a proxy's user, or "" when
// the mode names nobody. header is true when the credential came in the
// Authorization header (no cookie: no cross-site request can carry it).
type principal struct {
	user   string
	header bool
}

// authorize decides whether r may see the dashboard.
func (h *Handler) authorize(r *http.Request) (principal, *denial) {
	switch h.cfg.Access {
	case AccessOpen:
		return principal{}, nil
	case AccessToken:
		if v := r.Header.Get("Authorization"); v != "" {
			tok, ok := strings.CutPrefix(v, "Bearer ")
			if !ok || tok == "" {
				return principal{}, &denial{code: http.StatusUnauthorized, message: "send Authorization: Bearer <token> (the dashboard token)", login: true}
			}
			if subtle.ConstantTimeCompare([]byte(tok), h.cfg.Token) != 1 {
				return principal{}, &denial{code: http.StatusForbidden, message: "invalid dashboard token", login: true}
			}
			return principal{header: true}, nil
		}
		c, err := r.Cookie(CookieName)
		if err != nil || c.Value == "" {
			return principal{}, &denial{code: http.StatusUnauthorized, message: "the dashboard needs its token: send Authorization: Bearer <token>, or open /?token=<token> once in a browser", login: true}
		}
		if !hmac.Equal([]byte(c.Value), []byte(h.cookie)) {
			return principal{}, &denial{code: http.StatusForbidden, message: "the dashboard cookie is not valid (was the token changed?): open /?token=<token> again", login: true}
		}
		return principal{}, nil
	case AccessProxy:
		if !h.fromProxy(r) {
			return principal{}, &denial{code: http.StatusForbidden, message: "the dashboard is served only through its auth proxy"}
		}
		for _, name := range h.cfg.ProxyUserHeaders {
			if u := strings.TrimSpace(r.Header.Get(name)); u != "" {
				return principal{user: u}, nil
			}
		}
		return principal{}, &denial{code: http.StatusUnauthorized, message: "the auth proxy named no user (" + strings.Join(h.cfg.ProxyUserHeaders, ", ") + ")"}
	}
	return principal{}, &denial{code: http.StatusNotFound, message: "the dashboard is off"}
}

// fromProxy reports whether r comes from one of the proxy's addresses.
func (h *Handler) fromProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range h.cfg.ProxyCIDRs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// cookieValue is what the token mode's cookie holds: a MAC of a fixed
// string under the token, so the cookie is not the token itself and
// changing the token logs every browser out.
func cookieValue(token []byte) string {
	m := hmac.New(sha256.New, token)
	m.Write([]byte("preview-generator dashboard session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// secure reports whether r reached us (or the TLS-terminating proxy in
// front) over HTTPS: the cookie is then Secure.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
