package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"

	"flotilla/api"
)

// fetchAndPrint is what a command that reads one thing from the cluster
// does: refuse an unknown -o before anything is sent, ask a server
// (fetch), and print the answer as JSON or YAML, or else with table. A
// fetch error is wrapped with what the command is ("acl policy list:
// ..."), or returned as it is when what is "". fetch takes the client
// first so that a method expression serves: (*api.Client).ACLPolicies.
func fetchAndPrint[T any](cmd *cobra.Command, g *globals, what string, fetch func(*api.Client, context.Context) (T, error), table func(io.Writer, T) error) error {
	if err := checkFormat(g.output); err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	v, err := fetch(c, cmd.Context())
	if err != nil {
		if what != "" {
			return fmt.Errorf("%s: %w", what, err)
		}
		return err
	}
	if g.output != "table" {
		return printObject(cmd.OutOrStdout(), g.output, v)
	}
	return table(cmd.OutOrStdout(), v)
}

// printObject writes v as JSON or YAML; table output is the caller's.
func printObject(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b, err := yamlFromJSON(data)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return formatError(format)
}

// checkFormat refuses an unknown -o before anything is sent.
func checkFormat(format string) error {
	switch format {
	case "table", "json", "yaml":
		return nil
	}
	return formatError(format)
}

// textOnly refuses --output other than table for a command that prints
// text only, rather than ignore it; instead, when given, says what prints
// the format asked for.
func textOnly(format, instead string) error {
	if format == "table" {
		return nil
	}
	if instead != "" {
		instead = " (" + instead + ")"
	}
	return fmt.Errorf("--output %s: this command prints text only%s", format, instead)
}

func formatError(format string) error {
	if format == "wide" {
		return fmt.Errorf("--output: wide is for get; this command prints table, json or yaml")
	}
	return fmt.Errorf("--output: unknown format %q (want table, json or yaml; get also takes wide)", format)
}

// yamlFromJSON writes a JSON document as YAML in the JSON's key order (the
// struct's: a service document reads kind, name, ... and status last),
// where converters that go through a map sort the keys.
func yamlFromJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	node, err := yamlNode(dec, tok)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// yamlNode converts the JSON value that starts with tok. Scalars carry
// their JSON type as a tag, so the encoder quotes a string that would
// read as another type ("true", "8080", "null").
func yamlNode(dec *json.Decoder, tok json.Token) (*yaml.Node, error) {
	switch tok := tok.(type) {
	case json.Delim:
		node := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if tok == '{' {
			node = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		for dec.More() {
			if node.Kind == yaml.MappingNode {
				key, err := dec.Token()
				if err != nil {
					return nil, err
				}
				name, _ := key.(string) // JSON keys are strings
				node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name})
			}
			next, err := dec.Token()
			if err != nil {
				return nil, err
			}
			value, err := yamlNode(dec, next)
			if err != nil {
				return nil, err
			}
			node.Content = append(node.Content, value)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		if len(node.Content) == 0 {
			node.Style = yaml.FlowStyle // {} and []
		}
		return node, nil
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: tok}, nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(string(tok), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(tok)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(tok)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// table writes aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)}
	t.row(toAny(headers)...)
	return t
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func (t *table) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		parts[i] = fmt.Sprint(c)
		if parts[i] == "" {
			parts[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// age prints how long ago t was, as kubectl does.
func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
