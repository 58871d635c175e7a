package api

import (
	"encoding/json"
	"fmt"
	"strings"
)

// NodeNameKey is the constraint key that matches a node's name rather than
// one of its labels.
const NodeNameKey = "node.name"

// ParseConstraint reads "key == value", "key != value", "key in (a, b)" or
// "key not in (a, b)".
func ParseConstraint(s string) (Constraint, error) {
	text := strings.TrimSpace(s)
	for _, op := range []string{OpEqual, OpNotEqual} {
		if key, value, ok := strings.Cut(text, op); ok {
			c := Constraint{Key: strings.TrimSpace(key), Op: op, Values: []string{strings.TrimSpace(value)}}
			return c, c.check(s)
		}
	}
	for _, op := range []string{OpNotIn, OpIn} {
		// The operator is a word: it must stand between spaces.
		if key, rest, ok := strings.Cut(text, " "+op+" "); ok {
			list := strings.TrimSpace(rest)
			if !strings.HasPrefix(list, "(") || !strings.HasSuffix(list, ")") {
				return Constraint{}, fmt.Errorf("invalid constraint %q: the values of %q go in parentheses, e.g. zone %s (a, b)", s, op, op)
			}
			var values []string
			for _, v := range strings.Split(list[1:len(list)-1], ",") {
				values = append(values, strings.TrimSpace(v))
			}
			c := Constraint{Key: strings.TrimSpace(key), Op: op, Values: values}
			return c, c.check(s)
		}
	}
	return Constraint{}, fmt.Errorf("invalid constraint %q (want e.g. \"zone == a\", \"zone != b\", \"zone in (a, b)\" or \"zone not in (a, b)\")", s)
}

func (c Constraint) check(text string) error {
	if c.Key == "" || strings.ContainsAny(c.Key, " \t()=!,") {
		return fmt.Errorf("invalid constraint %q: bad label key %q", text, c.Key)
	}
	for _, v := range c.Values {
		if v == "" || strings.ContainsAny(v, " \t()=!,") {
			return fmt.Errorf("invalid constraint %q: bad value %q", text, v)
		}
	}
	return nil
}

// Matches reports whether a node with this name and these labels satisfies
// the constraint. A missing label satisfies only != and "not in".
func (c Constraint) Matches(nodeName string, labels map[string]string) bool {
	value, ok := labels[c.Key]
	if c.Key == NodeNameKey {
		value, ok = nodeName, true
	}
	in := false
	if ok {
		for _, v := range c.Values {
			if v == value {
				in = true
				break
			}
		}
	}
	switch c.Op {
	case OpEqual, OpIn:
		return in
	default:
		return !in
	}
}

func (c Constraint) String() string {
	switch c.Op {
	case OpIn, OpNotIn:
		return c.Key + " " + c.Op + " (" + strings.Join(c.Values, ", ") + ")"
	default:
		return c.Key + " " + c.Op + " " + strings.Join(c.Values, "")
	}
}

func (c Constraint) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

func (c *Constraint) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a string such as \"zone != b\"")
	}
	parsed, err := ParseConstraint(s)
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}
