package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"flotilla/api"
)

// The ACL token every client command sends: --token, else
// $FLOTILLA_TOKEN (api.NewClient reads it).

// tokenValue is the token a command sends ("" for none).
func (g *globals) tokenValue() string {
	if g.token != "" {
		return g.token
	}
	return os.Getenv(api.TokenEnv)
}

// useToken makes a client send --token (it sends $FLOTILLA_TOKEN by
// itself).
func (g *globals) useToken(c *api.Client) {
	if g.token != "" {
		c.SetToken(g.token)
	}
}

// setAgentToken makes a request to an agent's API (logs, exec) carry the
// token: the agent asks the servers what it may do.
func (g *globals) setAgentToken(req *http.Request) {
	if t := g.tokenValue(); t != "" {
		req.Header.Set(api.TokenHeader, t)
	}
}

func newACLCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Manage ACLs: bootstrap, policies and tokens (servers started with --acl)",
		Long: `Manage ACLs (servers started with --acl).

A token names policies; a policy's rules grant capabilities:

  namespaces:            # per namespace ("*": every namespace without an entry of its own)
    default: [read, write, exec, admin]   # admin implies the others; write implies read
    "*": [read]
  node: read             # read or write (agents need node: write)
  operator: read         # read or write (Raft peers, keyrings)

A management token may do everything; requests without a token get the
policy named "anonymous" when one exists (none does by default).`,
	}
	cmd.AddCommand(newACLBootstrapCmd(g), newACLPolicyCmd(g), newACLTokenCmd(g))
	return cmd
}

func newACLBootstrapCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "bootstrap",
		Short: "Make the cluster's first management token (once; its secret is shown only now)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			t, err := c.ACLBootstrap(cmd.Context())
			if err != nil {
				return err // "ACL bootstrap already done ..." or "ACLs are disabled ..."
			}
			return printToken(cmd.OutOrStdout(), g.output, t)
		},
	}
}

func newACLPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Create, list, show and delete ACL policies"}
	var file, description string
	create := &cobra.Command{
		Use:     "create NAME -f RULES",
		Aliases: []string{"apply"},
		Short:   "Create a policy, or replace the one of that name, from a rules file (YAML or JSON; - reads stdin)",
		Example: `  flotilla acl policy create readonly -f readonly.yaml --description "read every namespace"
  printf 'namespaces: {default: [read, exec]}\nnode: read\n' | flotilla acl policy create ops -f -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := api.ValidateACLName("NAME", args[0]); err != nil {
				return err
			}
			if file == "" {
				return fmt.Errorf("-f: required: the rules file (YAML or JSON), or - for stdin")
			}
			var data []byte
			var err error
			if file == "-" {
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(file)
			}
			if err != nil {
				return fmt.Errorf("-f: %w", err)
			}
			source := file
			if file == "-" {
				source = "stdin"
			}
			if _, err := api.DecodeACLRules(source, data); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if _, err := c.UpsertACLPolicy(cmd.Context(), args[0], api.ACLPolicyRequest{Description: description, Rules: string(data)}); err != nil {
				return fmt.Errorf("acl policy create %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "policy %s written\n", args[0])
			return nil
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", "rules file (YAML or JSON), - for stdin")
	create.Flags().StringVar(&description, "description", "", "what the policy is for")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the policies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			policies, err := c.ACLPolicies(cmd.Context())
			if err != nil {
				return fmt.Errorf("acl policy list: %w", err)
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, policies)
			}
			t := newTable(cmd.OutOrStdout(), "NAME", "DESCRIPTION")
			for _, p := range policies {
				t.row(p.Name, p.Description)
			}
			return t.flush()
		},
	}
	info := &cobra.Command{
		Use:   "info NAME",
		Short: "Show a policy and its rules",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			p, err := c.ACLPolicy(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("acl policy info %s: %w", args[0], err)
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, p)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Name:         %s\nDescription:  %s\nRules:\n", p.Name, p.Description)
			for _, line := range strings.Split(strings.TrimRight(p.Rules, "\n"), "\n") {
				fmt.Fprintf(out, "  %s\n", line)
			}
			return nil
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a policy (tokens that name it lose what it granted)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if _, err := c.DeleteACLPolicy(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("acl policy delete %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "policy %s deleted\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, info, del)
	return cmd
}

func newACLTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list, show and delete ACL tokens"}
	var req api.ACLTokenRequest
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create --name NAME --policy POLICY [--policy ...]",
		Short: "Create a token (its secret is shown only now)",
		Example: `  flotilla acl token create --name alice --policy readonly
  flotilla acl token create --name n1 --policy agent
  flotilla acl token create --name ops --type management --ttl 8h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			req.TTL = api.Duration(ttl)
			if err := req.Validate(); err != nil {
				return flagError(err)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			t, err := c.CreateACLToken(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("acl token create: %w", err)
			}
			return printToken(cmd.OutOrStdout(), g.output, t)
		},
	}
	create.Flags().StringVar(&req.Name, "name", "", "a name that says whose or what the token is")
	create.Flags().StringSliceVar(&req.Policies, "policy", nil, "policy the token gets (repeatable)")
	create.Flags().StringVar(&req.Type, "type", api.TokenClient, "client (its policies' rights) or management (everything)")
	create.Flags().DurationVar(&ttl, "ttl", 0, "the token expires this long after it is made (0: never)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the tokens (accessor IDs; never secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			tokens, err := c.ACLTokens(cmd.Context())
			if err != nil {
				return fmt.Errorf("acl token list: %w", err)
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, tokens)
			}
			t := newTable(cmd.OutOrStdout(), "ACCESSOR", "NAME", "TYPE", "POLICIES", "EXPIRES")
			for _, tok := range tokens {
				t.row(tok.AccessorID, tok.Name, tok.Type, strings.Join(tok.Policies, ","), expires(tok))
			}
			return t.flush()
		},
	}
	info := &cobra.Command{
		Use:   "info ACCESSOR",
		Short: "Show a token by its accessor ID (not its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			t, err := c.ACLToken(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("acl token info %s: %w", args[0], err)
			}
			return printToken(cmd.OutOrStdout(), g.output, t)
		},
	}
	self := &cobra.Command{
		Use:   "self",
		Short: "Show the token this command sends (--token or $FLOTILLA_TOKEN) and what it may do",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			t, err := c.ACLTokenSelf(cmd.Context())
			if err != nil {
				return fmt.Errorf("acl token self: %w", err)
			}
			return printToken(cmd.OutOrStdout(), g.output, t)
		},
	}
	del := &cobra.Command{
		Use:   "delete ACCESSOR",
		Short: "Delete a token by its accessor ID: it is refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if _, err := c.DeleteACLToken(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("acl token delete %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s deleted\n", args[0])
			return nil
		},
	}
	generate := &cobra.Command{
		Use:   "generate",
		Short: "Print a new random secret, for --acl-bootstrap-token-file (asks no server)",
		Example: `  flotilla acl token generate > /etc/flotilla/bootstrap.token
  flotilla server --acl --acl-bootstrap-token-file /etc/flotilla/bootstrap.token ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), api.NewACLSecret())
			return nil
		},
	}
	cmd.AddCommand(create, list, info, self, del, generate)
	return cmd
}

// flagError names the flag of a token request's field error.
func flagError(err error) error {
	var fe *api.FieldError
	if errors.As(err, &fe) {
		flag := map[string]string{"name": "--name", "type": "--type", "ttl": "--ttl"}[fe.Field]
		if strings.HasPrefix(fe.Field, "policies") {
			flag = "--policy"
		}
		if flag != "" {
			return fmt.Errorf("%s: %s", flag, fe.Message)
		}
	}
	return err
}

func printToken(w io.Writer, format string, t *api.ACLToken) error {
	if format != "table" {
		return printObject(w, format, t)
	}
	fmt.Fprintf(w, "Accessor ID:  %s\n", t.AccessorID)
	if t.SecretID != "" {
		fmt.Fprintf(w, "Secret ID:    %s\n", t.SecretID)
	}
	policies := strings.Join(t.Policies, ", ")
	if policies == "" {
		policies = "none"
	}
	fmt.Fprintf(w, "Name:         %s\nType:         %s\nPolicies:     %s\n", t.Name, t.Type, policies)
	if !t.CreateTime.IsZero() {
		fmt.Fprintf(w, "Created:      %s\n", t.CreateTime.Local().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "Expires:      %s\n", expires(t))
	if p := t.Permissions; p != nil {
		fmt.Fprintf(w, "May:          %s\n", describePermissions(p))
	}
	return nil
}

func expires(t *api.ACLToken) string {
	if t.ExpirationTime == nil {
		return "never"
	}
	return t.ExpirationTime.Local().Format(time.RFC3339)
}

// describePermissions says in one line what a token may do.
func describePermissions(p *api.ACLPermissions) string {
	if p.Management {
		return "everything (management)"
	}
	var parts []string
	for _, ns := range slices.Sorted(maps.Keys(p.Namespaces)) {
		parts = append(parts, fmt.Sprintf("namespace %s: %s", ns, strings.Join(p.Namespaces[ns], ",")))
	}
	if p.Node != "" {
		parts = append(parts, "node: "+p.Node)
	}
	if p.Operator != "" {
		parts = append(parts, "operator: "+p.Operator)
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}
