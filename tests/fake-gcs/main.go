// kq-fake-gcs: fake-gcs-server (github.com/fsouza/fake-gcs-server), the
// Google Cloud Storage emulator, on an ephemeral loopback port for kq's
// gs:// snapshot tests.
//
// Usage: kq-fake-gcs BUCKET...
//
// It creates the buckets, prints one JSON line {"url": "http://127.0.0.1:PORT"}
// on stdout, and serves until stdin closes, so the test that started it
// never leaves it running.
//
// fake-gcs-server serves the XML API's reads, lists and deletes but not its
// plain object upload (`PUT /BUCKET/OBJECT`, what object_store sends, as
// gsutil does); upstream answers it "invalid uploadType". xmlPutAsMedia
// turns that one request into the JSON API's media upload of the same
// bytes and answers with the ETag header the XML API gives.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

func main() {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "kq-fake-gcs: cannot listen: %v\n", err)
		os.Exit(1)
	}
	server, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:     "http",
		NoListener: true,
		// The public host without a port matches requests to any port on
		// loopback, so the XML API's path-style URLs reach the buckets.
		PublicHost: "127.0.0.1",
		Writer:     io.Discard,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "kq-fake-gcs: cannot start: %v\n", err)
		os.Exit(1)
	}
	for _, bucket := range os.Args[1:] {
		server.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	}
	go func() {
		_ = http.Serve(listener, xmlPutAsMedia(server.HTTPHandler()))
	}()
	line, err := json.Marshal(map[string]string{"url": "http://" + listener.Addr().String()})
	if err != nil {
		fmt.Fprintf(os.Stderr, "kq-fake-gcs: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
	// Serve until the test closes stdin (or exits).
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// xmlPutAsMedia rewrites `PUT /BUCKET/OBJECT` (no upload type, not a
// signed URL, not a copy) to `POST /upload/storage/v1/b/BUCKET/o?uploadType=media&name=OBJECT`.
func xmlPutAsMedia(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bucket, object, isObject := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
		query := r.URL.Query()
		plainPut := r.Method == http.MethodPut && isObject && object != "" &&
			query.Get("uploadType") == "" && query.Get("X-Goog-Algorithm") == "" &&
			r.Header.Get("x-goog-copy-source") == "" && len(query) == 0
		if !plainPut {
			next.ServeHTTP(w, r)
			return
		}
		// object_store escapes every byte but letters and digits.
		bucket, errBucket := url.PathUnescape(bucket)
		name, errName := url.PathUnescape(object)
		if errBucket != nil || errName != nil {
			http.Error(w, "bad bucket or object name", http.StatusBadRequest)
			return
		}
		upload := r.Clone(r.Context())
		upload.Method = http.MethodPost
		upload.URL.Path = "/upload/storage/v1/b/" + url.PathEscape(bucket) + "/o"
		upload.URL.RawPath = ""
		upload.URL.RawQuery = url.Values{"uploadType": {"media"}, "name": {name}}.Encode()
		upload.RequestURI = upload.URL.RequestURI()
		recorder := httptest.NewRecorder()
		next.ServeHTTP(recorder, upload)
		if recorder.Code != http.StatusOK {
			w.WriteHeader(recorder.Code)
			_, _ = w.Write(recorder.Body.Bytes())
			return
		}
		var created struct {
			Etag string `json:"etag"`
		}
		_ = json.Unmarshal(recorder.Body.Bytes(), &created)
		w.Header().Set("ETag", `"`+strings.Trim(created.Etag, `"`)+`"`)
		w.WriteHeader(http.StatusOK)
	})
}
