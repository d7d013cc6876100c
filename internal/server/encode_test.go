package server

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestEncodeReplyMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	tests := [][]map[string]string{
		nil,
		{},
		{{}},
		{{"name": "backend-pr-1-58d661", "title": `Fix "quotes" & <tags> \ back`}},
		{{"a": "line\nbreak\ttab\r\b\f\x01\x1f"}, {"z": "ünïcödé 日本", "y": "\u2028\u2029", "x": "bad \xff utf8 \xe2\x82"}},
	}
	for _, maps := range tests {
		want, err := json.Marshal(reply{Output: output{Parameters: maps}})
		if err != nil {
			t.Fatal(err)
		}
		if maps == nil {
			// encoding/json writes null for a nil slice; Build never returns nil.
			want = []byte(`{"output":{"parameters":[]}}`)
		}
		if got := encodeReply(maps); !bytes.Equal(got, want) {
			t.Errorf("encodeReply(%q)\n got %s\nwant %s", maps, got, want)
		}
	}
}

func FuzzEncodeReply(f *testing.F) {
	f.Add("title", "Add <login> & \"stuff\"", "k\x00", "\xff\u2028")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		maps := []map[string]string{{k1: v1, k2: v2}, {k2: v1}}
		want, err := json.Marshal(reply{Output: output{Parameters: maps}})
		if err != nil {
			t.Fatal(err)
		}
		got := encodeReply(maps)
		if !bytes.Equal(got, want) {
			t.Fatalf("encodeReply differs from encoding/json\n got %q\nwant %q", got, want)
		}
		if cap(got) < len(got) || cap(got) > 2*len(got)+64 {
			t.Fatalf("buffer sized %d for %d bytes", cap(got), len(got))
		}
	})
}
