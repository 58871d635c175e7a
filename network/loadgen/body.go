package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// readFull reads r to its end, keeping what fits in buf; it returns how
// much was kept. Reading to the end is what lets the transport reuse the
// connection.
func readFull(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return n, nil // the whole body fit
	case err != nil:
		return n, err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return n, err
	}
	return n, nil
}

// versionOf says who answered: the "version" field of a JSON object body
// (the demo workload answers {"version", "node", "allocation", "hostname"}),
// else Flotilla's proxy's X-Flotilla-Revision header, written "rev N" when
// it is a number; "" when neither says.
func versionOf(body []byte, h http.Header) string {
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '{' {
		var id struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(b, &id) == nil && id.Version != "" {
			return id.Version
		}
	}
	rev := h.Get(RevisionHeader)
	if rev == "" {
		return ""
	}
	if _, err := strconv.Atoi(rev); err == nil {
		return "rev " + rev
	}
	return rev
}
