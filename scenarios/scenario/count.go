package scenario

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Count is what a condition wants of a number: exactly 3 (written 3),
// at least 3 ("3+" or ">=3"), more than 3 (">3"), at most 3 ("<=3"),
// fewer than 3 ("<3"), or between 2 and 6 ("2..6").
type Count struct {
	Min, Max int // Max < 0: no upper bound
}

// Exactly is a Count of n.
func Exactly(n int) Count { return Count{Min: n, Max: n} }

// AtLeast is a Count of n or more.
func AtLeast(n int) Count { return Count{Min: n, Max: -1} }

// ParseCount reads a Count's syntax.
func ParseCount(s string) (Count, error) {
	s = strings.TrimSpace(s)
	num := func(t string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a count (want 3, \"3+\", \">=3\", \"<=3\", \"<3\", \">3\" or \"2..6\")", s)
		}
		return n, nil
	}
	var c Count
	var err error
	switch {
	case strings.HasSuffix(s, "+"):
		c.Min, err = num(strings.TrimSuffix(s, "+"))
		c.Max = -1
	case strings.HasPrefix(s, ">="):
		c.Min, err = num(s[2:])
		c.Max = -1
	case strings.HasPrefix(s, ">"):
		c.Min, err = num(s[1:])
		c.Min++
		c.Max = -1
	case strings.HasPrefix(s, "<="):
		c.Max, err = num(s[2:])
	case strings.HasPrefix(s, "<"):
		c.Max, err = num(s[1:])
		if err == nil && c.Max == 0 {
			return Count{}, fmt.Errorf("%q: no count is below 0", s)
		}
		c.Max--
	case strings.Contains(s, ".."):
		lo, hi, _ := strings.Cut(s, "..")
		if c.Min, err = num(lo); err == nil {
			c.Max, err = num(hi)
		}
		if err == nil && c.Max < c.Min {
			return Count{}, fmt.Errorf("%q ends before it starts", s)
		}
	default:
		c.Min, err = num(s)
		c.Max = c.Min
	}
	if err != nil {
		return Count{}, err
	}
	return c, nil
}

// UnmarshalJSON takes a whole number or a string in Count's syntax.
func (c *Count) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want a count such as 3, \"3+\" or \"2..6\"")
		}
		s = n.String()
	}
	v, err := ParseCount(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// MarshalJSON writes the count in its own syntax.
func (c Count) MarshalJSON() ([]byte, error) {
	switch {
	case c.Max < 0:
		return json.Marshal(strconv.Itoa(c.Min) + "+")
	case c.Min == c.Max:
		return json.Marshal(c.Min)
	case c.Min == 0:
		return json.Marshal("<=" + strconv.Itoa(c.Max))
	}
	return json.Marshal(strconv.Itoa(c.Min) + ".." + strconv.Itoa(c.Max))
}

// Match reports whether n is what the count wants.
func (c Count) Match(n int) bool { return n >= c.Min && (c.Max < 0 || n <= c.Max) }

// String writes the count for people: "3", "at least 3", "2 to 6".
func (c Count) String() string {
	switch {
	case c.Max < 0 && c.Min == 0:
		return "any number"
	case c.Max < 0:
		return "at least " + strconv.Itoa(c.Min)
	case c.Min == c.Max:
		return strconv.Itoa(c.Min)
	case c.Min == 0:
		return "at most " + strconv.Itoa(c.Max)
	}
	return strconv.Itoa(c.Min) + " to " + strconv.Itoa(c.Max)
}
