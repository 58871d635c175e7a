package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"flotilla/docs"
)

func newExplainCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "explain PATH",
		Short: "Describe a field of the service spec and list the fields under it (no cluster needed)",
		Long: `Print the reference of one field of the documents apply takes: its type,
default, limits, an example, what it does today and the fields under it. It
reads docs/SPEC.md as built into this binary, so it needs no cluster and
always matches this version.

PATH is written from the kind (service.rollout.canary, service.ports[].port);
the path an apply error names works too (spec.ports[0].port), and so does one
without the kind (rollout.canary).`,
		Example: `  flotilla explain service                      # every top-level field
  flotilla explain service.rollout.canary       # a block and its fields
  flotilla explain spec.probes.readiness.http.port`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := docs.Reference()
			if err != nil {
				return fmt.Errorf("read the built-in reference: %w", err)
			}
			path, entry, err := ref.Find(args[0])
			if err != nil {
				return err
			}
			return writeExplanation(cmd.OutOrStdout(), ref, path, entry)
		},
	}
}

// writeExplanation prints an entry as kubectl explain does: the field's
// facts, its description, then each direct subfield with its type and
// first sentence.
func writeExplanation(w io.Writer, ref *docs.Index, path string, e *docs.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range [][2]string{
		{"FIELD:", path},
		{"TYPE:", e.Type},
		{"DEFAULT:", e.Default},
		{"LIMITS:", e.Limits},
		{"EXAMPLE:", unquoteCode(e.Example)},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], plainText(row[1]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nDESCRIPTION:")
	fenced := false
	for _, line := range strings.Split(plainText(e.Description), "\n") {
		switch {
		case strings.HasPrefix(strings.TrimSpace(line), "```"):
			fenced = !fenced // a terminal shows the block by its indent
		case line == "":
			fmt.Fprintln(w)
		case fenced:
			fmt.Fprintln(w, "      "+line)
		default:
			fmt.Fprintln(w, "  "+line)
		}
	}
	children := ref.Children(path)
	if len(children) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nFIELDS:")
	for i, c := range children {
		if i > 0 {
			fmt.Fprintln(w)
		}
		typ, _, _ := strings.Cut(c.Entry.Type, " (") // "string (`http` or `tcp`)"
		fmt.Fprintf(w, "  %s  <%s>\n", c.Name, plainText(typ))
		for _, line := range wrap(plainText(c.Entry.Summary()), 72) {
			fmt.Fprintln(w, "    "+line)
		}
	}
	return nil
}

// plainText drops the markdown emphasis a terminal would print as
// asterisks; code spans keep their backticks, which read as quotes.
func plainText(s string) string { return strings.ReplaceAll(s, "**", "") }

// unquoteCode turns an example that is one code span into its text.
func unquoteCode(s string) string {
	if len(s) > 2 && s[0] == '`' && s[len(s)-1] == '`' && !strings.Contains(s[1:len(s)-1], "`") {
		return s[1 : len(s)-1]
	}
	return s
}

// wrap breaks text into lines of at most width bytes, at spaces (a longer
// word gets a line of its own).
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
