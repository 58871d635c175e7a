// Package text has the small helpers that messages for people share.
package text

import "strconv"

// Plural is "s" unless n is 1: fmt.Sprintf("%d node%s", n, Plural(n)).
func Plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Count is n and the noun, plural unless n is 1: Count(1, "replica") is
// "1 replica", Count(3, "replica") "3 replicas".
func Count(n int, noun string) string {
	return strconv.Itoa(n) + " " + noun + Plural(n)
}
