// Package ui is the web dashboard every server serves at /ui/ on its API
// port: plain HTML, CSS and ES modules embedded with go:embed, so that
// `go build` stays the only build step.
//
// It owns the static files under static/ and the handler that serves them;
// the pages talk to the cluster only through the public /v1 API (blocking
// queries and the server-sent event stream), the same API the CLI uses, so
// the dashboard can do nothing the CLI cannot. It must not import the
// scheduler, the state store or anything else with a back door into the
// cluster, and the pages must not load anything from outside the server
// that served them (the Content-Security-Policy header enforces that).
//
// static/js/app.js is the shell (navigation, connection state); each view
// is one module in static/js/views/; static/js/api.js holds every call to
// the API and the live watches; static/js/chart.js draws the SVG charts.
package ui
