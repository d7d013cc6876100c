package github

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"slices"
)

// revalidatedHeader marks a response the ETag cache answered after a 304.
const revalidatedHeader = "X-Preview-Generator-Revalidated"

// linkReplayedHeader marks a revalidated response whose 304 carried no
// Link header while its cached 200 had one: the Link is the 200's, which
// may be older than the page's neighbours.
const linkReplayedHeader = "X-Preview-Generator-Link-Replayed"

type conditionalKey struct{}

// condRequest carries one conditional GET between the client and the
// transport. The transport fills it; the client reads it.
type condRequest struct {
	// After a 200 with an ETag: the cache key, the ETag and the Link
	// header to replay. The client converts the body and hands the result
	// to etagTransport.store.
	key  etagKey
	etag string
	link []string
	// After a 304: the value stored for this URL; revalidated is true.
	value       any
	revalidated bool
}

// conditional marks ctx so that its GET request goes through the ETag
// cache, reporting to cr. Use a fresh cr for each request.
func conditional(ctx context.Context, cr *condRequest) context.Context {
	return context.WithValue(ctx, conditionalKey{}, cr)
}

// etagKey is the SHA-256 of the credential identity and the URL: 32 bytes
// instead of a string of a hundred or more per cached page.
type etagKey [sha256.Size]byte

type etagEntry struct {
	etag  string
	link  []string // the 200's Link header, if any
	value any
	cost  int64
}

// etagTransport makes conditional requests. It does not keep response
// bodies: a client decodes and converts a 200 as usual and then stores the
// converted value (a page of pull requests, say) with store, under the URL,
// the credential identity and the 200's ETag. The next GET of that URL sends
// If-None-Match; a 304 (which costs no rate limit) is answered as a 200
// with an empty body, the 304's fresh rate-limit headers, the stored Link,
// and the stored value in the request's condRequest. Only requests whose
// context is marked with conditional() take part.
//
// Keeping the converted value rather than the body costs about 1/50 of the
// memory for GitHub's pull request pages (about 20 KB of JSON per pull
// request, most of it nested repository and user objects) and spares
// decoding them again on every poll.
type etagTransport struct {
	next     http.RoundTripper
	identity string
	cache    *lru[etagKey, etagEntry]
}

func newETagTransport(next http.RoundTripper, identity string, maxEntries int, maxBytes int64) *etagTransport {
	return &etagTransport{
		next:     next,
		identity: identity,
		cache: newLRU[etagKey, etagEntry](maxEntries, maxBytes, func(e etagEntry) int64 {
			n := e.cost + int64(len(e.etag)) + 200
			for _, l := range e.link {
				n += int64(len(l)) + 16
			}
			return n
		}),
	}
}

func (t *etagTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	cr, _ := req.Context().Value(conditionalKey{}).(*condRequest)
	if req.Method != http.MethodGet || cr == nil {
		return t.next.RoundTrip(req)
	}
	key := etagKey(sha256.Sum256([]byte(t.identity + " " + req.URL.String())))
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
		// The 304 is ours to change: it becomes the 200.
		resp.Status = "200 OK"
		resp.StatusCode = http.StatusOK
		// A 304 without Link where the 200 had one: this server leaves
		// Link off its 304s, so the replayed one may be out of date. (A
		// 200 without Link was a single page; its 304 has none either.)
		if resp.Header.Get("Link") == "" && len(cached.link) > 0 {
			resp.Header[linkReplayedHeader] = []string{"true"}
			resp.Header["Link"] = slices.Clone(cached.link)
		}
		resp.Header.Set(revalidatedHeader, "true")
		resp.Header.Set("Content-Length", "0")
		resp.Body = http.NoBody
		resp.ContentLength = 0
		cr.value, cr.revalidated = cached.value, true
		return resp, nil
	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
		// A copy: the slice of a header's values shares its backing array
		// with every other header of the response.
		cr.key, cr.etag = key, resp.Header.Get("ETag")
		cr.link = slices.Clone(resp.Header.Values("Link"))
	}
	return resp, nil
}

// store keeps value, the converted answer of the 200 cr saw, for the next
// conditional request of that URL; cost is its size in bytes. It does
// nothing when that answer had no ETag. A value whose cost exceeds the
// cache's bound is not kept.
func (t *etagTransport) store(cr *condRequest, value any, cost int64) {
	if cr.etag == "" {
		return
	}
	t.cache.Add(cr.key, etagEntry{etag: cr.etag, link: cr.link, value: value, cost: cost})
}
