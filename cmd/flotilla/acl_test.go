package main

import (
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

func TestTokenListMarksAnExpiredToken(t *testing.T) {
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	for _, c := range []struct {
		token   api.ACLToken
		expired bool
		want    string
	}{
		{api.ACLToken{}, false, "never"},
		{api.ACLToken{ExpirationTime: &past}, true, past.Local().Format(time.RFC3339) + " (expired)"},
		{api.ACLToken{ExpirationTime: &future}, false, future.Local().Format(time.RFC3339)},
	} {
		if got := expires(&c.token); got != c.want || strings.HasSuffix(got, "(expired)") != c.expired {
			t.Errorf("expires = %q, want %q", got, c.want)
		}
	}
}
