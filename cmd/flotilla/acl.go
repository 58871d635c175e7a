package main

import (
	"context"
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
			// Its errors say what went wrong as they are: "ACL bootstrap
			// already done ..." or "ACLs are disabled ...".
			return fetchAndPrint(cmd, g, "", (*api.Client).ACLBootstrap, printToken)
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
			return fetchAndPrint(cmd, g, "acl policy list", (*api.Client).ACLPolicies, func(w io.Writer, policies []*api.ACLPolicy) error {
				t := newTable(w, "NAME", "DESCRIPTION")
				for _, p := range policies {
					t.row(p.Name, p.Description)
				}
				return t.flush()
			})
		},
	}
	info := &cobra.Command{
		Use:   "info NAME",
		Short: "Show a policy and its rules",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			policy := func(c *api.Client, ctx context.Context) (*api.ACLPolicy, error) { return c.ACLPolicy(ctx, args[0]) }
			return fetchAndPrint(cmd, g, "acl policy info "+args[0], policy, printPolicy)
		},
	}
	del := newACLDeleteCmd(g, "policy", "NAME", "Delete a policy (tokens that name it lose what it granted)", (*api.Client).DeleteACLPolicy)
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
			req.TTL = api.Duration(ttl)
			if err := req.Validate(); err != nil {
				return flagError(err)
			}
			create := func(c *api.Client, ctx context.Context) (*api.ACLToken, error) { return c.CreateACLToken(ctx, req) }
			return fetchAndPrint(cmd, g, "acl token create", create, printToken)
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
			return fetchAndPrint(cmd, g, "acl token list", (*api.Client).ACLTokens, func(w io.Writer, tokens []*api.ACLToken) error {
				t := newTable(w, "ACCESSOR", "NAME", "TYPE", "POLICIES", "EXPIRES")
				for _, tok := range tokens {
					t.row(tok.AccessorID, tok.Name, tok.Type, strings.Join(tok.Policies, ","), expires(tok))
				}
				return t.flush()
			})
		},
	}
	info := &cobra.Command{
		Use:   "info ACCESSOR",
		Short: "Show a token by its accessor ID (not its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			token := func(c *api.Client, ctx context.Context) (*api.ACLToken, error) { return c.ACLToken(ctx, args[0]) }
			return fetchAndPrint(cmd, g, "acl token info "+args[0], token, printToken)
		},
	}
	self := &cobra.Command{
		Use:   "self",
		Short: "Show the token this command sends (--token or $FLOTILLA_TOKEN) and what it may do",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return fetchAndPrint(cmd, g, "acl token self", (*api.Client).ACLTokenSelf, printToken)
		},
	}
	del := newACLDeleteCmd(g, "token", "ACCESSOR", "Delete a token by its accessor ID: it is refused from now on", (*api.Client).DeleteACLToken)
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

// newACLDeleteCmd is `acl policy delete NAME` or `acl token delete
// ACCESSOR` (kind "policy" or "token").
func newACLDeleteCmd(g *globals, kind, arg, short string, del func(*api.Client, context.Context, string) (api.WriteResponse, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "delete " + arg,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if _, err := del(c, cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("acl %s delete %s: %w", kind, args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s deleted\n", kind, args[0])
			return nil
		},
	}
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

// printPolicy is a policy as `acl policy info` shows it.
func printPolicy(w io.Writer, p *api.ACLPolicy) error {
	fmt.Fprintf(w, "Name:         %s\nDescription:  %s\nRules:\n", p.Name, p.Description)
	for _, line := range strings.Split(strings.TrimRight(p.Rules, "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
	return nil
}

// printToken is a token as the table output of the token commands shows
// it; its secret only when the answer carries it (bootstrap, create).
func printToken(w io.Writer, t *api.ACLToken) error {
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
	at := t.ExpirationTime.Local().Format(time.RFC3339)
	if t.Expired(time.Now()) {
		return at + " (expired)" // refused since; delete it when done with it
	}
	return at
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
