package ui_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"flotilla/api"
	"flotilla/ui"
)

func get(t *testing.T, srv *httptest.Server, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// The API handler serves the dashboard under /ui/ when given one, and
// sends a browser that asks for / there; the API itself is unchanged.
func TestAPIServesTheDashboardUnderUI(t *testing.T) {
	srv := httptest.NewServer(api.NewHandler(nil, api.HandlerOptions{UI: ui.Handler()}))
	defer srv.Close()

	resp, body := get(t, srv, "/ui/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<script type="module" src="js/app.js">`) {
		t.Fatalf("GET /ui/: %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("GET /ui/: Content-Type %q", ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); csp != ui.ContentSecurityPolicy {
		t.Errorf("GET /ui/: Content-Security-Policy %q", csp)
	}
	for path, want := range map[string]string{
		"/ui/js/app.js":            "text/javascript; charset=utf-8",
		"/ui/js/views/cluster.js":  "text/javascript; charset=utf-8",
		"/ui/app.css":              "text/css; charset=utf-8",
		"/ui/favicon.svg":          "image/svg+xml",
		"/ui/index.html":           "text/html; charset=utf-8",
		"/ui/js/views/service.js":  "text/javascript; charset=utf-8",
		"/ui/js/views/events.js":   "text/javascript; charset=utf-8",
		"/ui/js/views/services.js": "text/javascript; charset=utf-8",
	} {
		resp, _ := get(t, srv, path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != want {
			t.Errorf("GET %s: %d %q, want 200 %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
	}

	resp, _ = get(t, srv, "/")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /: %d to %q, want a redirect to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = get(t, srv, "/ui")
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d to %q, want a redirect to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, srv, "/ui/nope.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /ui/nope.js: %d, want 404", resp.StatusCode)
	}
	if resp, body := get(t, srv, "/v1/nope"); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Errorf("GET /v1/nope: %d %q, want the API's JSON 404", resp.StatusCode, body)
	}
}

// Without a dashboard the API answers / as any unknown path.
func TestAPIWithoutDashboardHasNoUI(t *testing.T) {
	srv := httptest.NewServer(api.NewHandler(nil, api.HandlerOptions{}))
	defer srv.Close()
	for _, path := range []string{"/", "/ui/"} {
		if resp, _ := get(t, srv, path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// A file a browser has is revalidated, not sent again.
func TestUnchangedFileIsNotModified(t *testing.T) {
	srv := httptest.NewServer(ui.Handler())
	defer srv.Close()
	resp, _ := get(t, srv, "/ui/js/api.js")
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, resp.Header.Get("Cache-Control"))
	}
	if resp, body := get(t, srv, "/ui/js/api.js", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("revalidation: %d with %d bytes, want 304 and none", resp.StatusCode, len(body))
	}
}

// Nothing in the pages names another host: no CDN script, font or image,
// no absolute URL at all (the SVG namespace is a name, not a request).
func TestPagesLoadNothingFromElsewhere(t *testing.T) {
	absolute := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|url\(\s*['"]?(https?:|//)`)
	err := filepath.WalkDir("static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(data), "http://www.w3.org/2000/svg", "")
		for _, m := range absolute.FindAllString(text, -1) {
			t.Errorf("%s names another host: %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
