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

// EditDistance is the Levenshtein distance between a and b, in bytes: what
// "did you mean" suggestions rank by.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
