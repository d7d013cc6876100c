package github

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
)

// revalidatedHeader marks a response the ETag cache served after a 304.
const revalidatedHeader = "X-Preview-Generator-Revalidated"

// maxETagBody bounds one cached body; larger pages are not cached.
const maxETagBody = 8 << 20

type conditionalKey struct{}

// conditional marks ctx so that its GET requests go through the ETag cache.
func conditional(ctx context.Context) context.Context {
	return context.WithValue(ctx, conditionalKey{}, true)
}

type etagEntry struct {
	etag   string
	body   []byte
	header http.Header // Content-Type and Link of the 200
}

// etagTransport makes conditional requests: it stores the ETag and body of
// each 200 (per URL and credential identity), sends If-None-Match on the
// next GET of that URL and turns a 304 (which costs no rate limit) back into
// the stored 200, keeping the 304's fresh rate-limit headers. Only requests
// whose context is marked with conditional() take part.
type etagTransport struct {
	next     http.RoundTripper
	identity string
	cache    *lru[string, etagEntry]
}

func newETagTransport(next http.RoundTripper, identity string, maxEntries int, maxBytes int64) *etagTransport {
	return &etagTransport{
		next:     next,
		identity: identity,
		cache: newLRU[string, etagEntry](maxEntries, maxBytes, func(e etagEntry) int64 {
			return int64(len(e.body) + len(e.etag) + 256)
		}),
	}
}

func (t *etagTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.Context().Value(conditionalKey{}) == nil {
		return t.next.RoundTrip(req)
	}
	key := t.identity + " " + req.URL.String()
	cached, hit := t.cache.Get(key)
	if hit {
		req = req.Clone(req.Context())
		req.Header.Set("If-None-Match", cached.etag)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && hit:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
		out := *resp
		out.Status = "200 OK"
		out.StatusCode = http.StatusOK
		out.Header = resp.Header.Clone()
		for k, v := range cached.header {
			if out.Header.Get(k) == "" {
				out.Header[k] = v
			}
		}
		out.Header.Set(revalidatedHeader, "true")
		out.Body = io.NopCloser(bytes.NewReader(cached.body))
		out.ContentLength = int64(len(cached.body))
		out.Header.Set("Content-Length", strconv.Itoa(len(cached.body)))
		return &out, nil
	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxETagBody+1))
		if err != nil {
			_ = resp.Body.Close()
			return nil, err
		}
		if len(body) > maxETagBody {
			// Too large to keep: hand the whole body on, uncached.
			t.cache.Remove(key)
			resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
			return resp, nil
		}
		_ = resp.Body.Close()
		h := http.Header{}
		for _, k := range []string{"Content-Type", "Link"} {
			if v := resp.Header.Values(k); len(v) > 0 {
				h[k] = v
			}
		}
		t.cache.Add(key, etagEntry{etag: resp.Header.Get("ETag"), body: body, header: h})
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
