package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"flotilla/api"
	"flotilla/internal/text"
	"flotilla/storage"
)

// Configs and secrets on the command line: apply takes their documents,
// get, describe and delete know them, and `flotilla config|secret create`
// makes one from literals and files, as kubectl create configmap|secret
// does. A secret's values are printed by `flotilla secret get NAME
// --show` only.

// applyFileObjects sends configs and secrets, saying what each write did.
func applyFileObjects(ctx context.Context, c *api.Client, out io.Writer, objects []api.FileObjectSpec) error {
	for _, o := range objects {
		what := api.FileObjectName(o.Kind, o.Metadata.Namespace, o.Metadata.Name)
		r, err := c.ApplyFileObject(ctx, o)
		if err != nil {
			return fmt.Errorf("apply %s: %w", what, err)
		}
		printFileWrite(out, what, r)
	}
	return nil
}

func printFileWrite(out io.Writer, what string, r api.FileWriteResponse) {
	switch {
	case r.Created:
		fmt.Fprintf(out, "%s created (version %d)\n", what, r.Version)
	case r.Changed:
		fmt.Fprintf(out, "%s configured (version %d)\n", what, r.Version)
	default:
		fmt.Fprintf(out, "%s unchanged (version %d)\n", what, r.Version)
	}
	for _, rev := range r.Revisions {
		fmt.Fprintf(out, "  service %s: new revision, rolled out by its strategy\n", rev)
	}
}

// fileKind is KindConfig or KindSecret for get's kind names.
func fileKind(kind string) string {
	if kind == "secrets" {
		return api.KindSecret
	}
	return api.KindConfig
}

// literalData reads --from-literal KEY=VALUE and --from-file KEY=PATH
// (or PATH: the key is the file's name).
func literalData(literals, files []string) (map[string]string, error) {
	data := map[string]string{}
	put := func(flag, k, v string) error {
		if _, dup := data[k]; dup {
			return fmt.Errorf("%s: key %q given twice", flag, k)
		}
		data[k] = v
		return nil
	}
	for _, l := range literals {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--from-literal: want KEY=VALUE, got a value without '=' (or without a key)")
		}
		if err := put("--from-literal", k, v); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		k, p, ok := strings.Cut(f, "=")
		if !ok {
			k, p = f[strings.LastIndex(f, "/")+1:], f
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--from-file %s: %w", f, err)
		}
		if err := put("--from-file", k, string(b)); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// newFileObjectCmd is `flotilla config ...` or `flotilla secret ...`.
func newFileObjectCmd(g *globals, kind string) *cobra.Command {
	lower := strings.ToLower(kind)
	cmd := &cobra.Command{
		Use:   lower,
		Short: map[string]string{api.KindConfig: "Create configs (files services mount)", api.KindSecret: "Create secrets (encrypted at rest) and read their values"}[kind],
	}
	var namespace string
	var literals, files []string
	var replace bool
	create := &cobra.Command{
		Use:   "create NAME [--from-literal KEY=VALUE]... [--from-file [KEY=]PATH]...",
		Short: "Create a " + lower + " from literal values and files (each a key)",
		Example: fmt.Sprintf(`  flotilla %s create db --from-literal user=app --from-literal password=s3cret
  flotilla %s create app --from-file config.yaml --from-file tls.crt=./certs/server.crt`, lower, lower),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := literalData(literals, files)
			if err != nil {
				return err
			}
			spec := api.FileObjectSpec{Kind: kind, Metadata: api.ObjectMeta{Name: args[0], Namespace: namespace}, Data: data}
			spec.SetDefaults()
			if err := spec.Validate(); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			what := api.FileObjectName(kind, spec.Metadata.Namespace, spec.Metadata.Name)
			if !replace {
				var getErr error
				if kind == api.KindSecret {
					_, _, getErr = c.Secret(cmd.Context(), namespace, args[0], api.QueryOptions{})
				} else {
					_, _, getErr = c.Config(cmd.Context(), namespace, args[0], api.QueryOptions{})
				}
				if getErr == nil {
					return fmt.Errorf("%s exists: --replace replaces its data (or change it with apply -f)", what)
				}
				if !errors.Is(getErr, api.ErrNotFound) {
					return getErr
				}
			}
			r, err := c.ApplyFileObject(cmd.Context(), spec)
			if err != nil {
				return fmt.Errorf("create %s: %w", what, err)
			}
			printFileWrite(cmd.OutOrStdout(), what, r)
			return nil
		},
	}
	create.Flags().StringVarP(&namespace, "namespace", "n", api.DefaultNamespace, "namespace")
	create.Flags().StringArrayVar(&literals, "from-literal", nil, "KEY=VALUE (repeatable)")
	create.Flags().StringArrayVar(&files, "from-file", nil, "[KEY=]PATH: the file's content under KEY, by default its name (repeatable)")
	create.Flags().BoolVar(&replace, "replace", false, "replace the data of one that exists")
	cmd.AddCommand(create)
	if kind == api.KindSecret {
		cmd.AddCommand(newSecretGetCmd(g))
	}
	return cmd
}

// newSecretGetCmd is the one command that prints a secret's values.
func newSecretGetCmd(g *globals) *cobra.Command {
	var namespace string
	var show bool
	cmd := &cobra.Command{
		Use:   "get NAME [--show]",
		Short: "Show a secret's keys and sizes; --show prints its values",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if show {
				values := func(c *api.Client, ctx context.Context) (*api.SecretValues, error) {
					return c.SecretValues(ctx, namespace, args[0])
				}
				return fetchAndPrint(cmd, g, "", values, func(w io.Writer, v *api.SecretValues) error {
					return printObject(w, "yaml", v.Data)
				})
			}
			secret := func(c *api.Client, ctx context.Context) (*api.Secret, error) {
				s, _, err := c.Secret(ctx, namespace, args[0], api.QueryOptions{})
				return s, err
			}
			return fetchAndPrint(cmd, g, "", secret, func(w io.Writer, s *api.Secret) error {
				return printSecrets(w, "table", []*api.Secret{s}, true)
			})
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", api.DefaultNamespace, "namespace")
	cmd.Flags().BoolVar(&show, "show", false, "print the values (the one command that does)")
	return cmd
}

// getFileObjects lists configs or secrets (get configs|secrets [NAME]).
func getFileObjects(ctx context.Context, c *api.Client, out io.Writer, format, kind, namespace string, allNamespaces bool, name string) error {
	ns := namespace
	if allNamespaces {
		ns = ""
	}
	if kind == "secrets" {
		var list []*api.Secret
		if name != "" {
			s, _, err := c.Secret(ctx, namespace, name, api.QueryOptions{})
			if err != nil {
				return err
			}
			list = []*api.Secret{s}
		} else {
			var err error
			if list, _, err = c.Secrets(ctx, ns, api.QueryOptions{}); err != nil {
				return err
			}
		}
		return printSecrets(out, format, list, name != "")
	}
	var list []*api.Config
	if name != "" {
		cfg, _, err := c.Config(ctx, namespace, name, api.QueryOptions{})
		if err != nil {
			return err
		}
		list = []*api.Config{cfg}
	} else {
		var err error
		if list, _, err = c.Configs(ctx, ns, api.QueryOptions{}); err != nil {
			return err
		}
	}
	if !isTable(format) {
		docs := configDocuments(list)
		if name != "" {
			return printObject(out, format, docs[0])
		}
		return printObject(out, format, docs)
	}
	t := newTable(out, "NAMESPACE", "NAME", "KEYS", "VERSION", "HASH", "AGE")
	for _, cfg := range list {
		keys := make([]string, 0, len(cfg.Data))
		for k := range cfg.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.row(cfg.Namespace, cfg.Name, strings.Join(keys, ","), cfg.ModifyIndex, cfg.Hash, age(cfg.ModifyTime))
	}
	return t.flush()
}

// configDocument is a config as apply takes it back (get configs NAME -o
// yaml | apply -f -): kind, metadata and data, then a read-only status
// that apply ignores.
type configDocument struct {
	Kind     string            `json:"kind"`
	Metadata api.ObjectMeta    `json:"metadata"`
	Data     map[string]string `json:"data"`
	Status   configStatus      `json:"status"`
}

type configStatus struct {
	Hash        string    `json:"hash"`
	CreateTime  time.Time `json:"createTime"`
	ModifyTime  time.Time `json:"modifyTime"`
	CreateIndex uint64    `json:"createIndex"`
	ModifyIndex uint64    `json:"modifyIndex"`
}

func configDocuments(list []*api.Config) []configDocument {
	docs := make([]configDocument, 0, len(list))
	for _, c := range list {
		docs = append(docs, configDocument{Kind: api.KindConfig, Metadata: api.ObjectMeta{Name: c.Name, Namespace: c.Namespace}, Data: c.Data,
			Status: configStatus{Hash: c.Hash, CreateTime: c.CreateTime, ModifyTime: c.ModifyTime, CreateIndex: c.CreateIndex, ModifyIndex: c.ModifyIndex}})
	}
	return docs
}

func printSecrets(out io.Writer, format string, list []*api.Secret, single bool) error {
	if !isTable(format) {
		if single {
			return printObject(out, format, list[0])
		}
		return printObject(out, format, list)
	}
	t := newTable(out, "NAMESPACE", "NAME", "KEYS", "VERSION", "HASH", "KEY ID", "AGE")
	for _, s := range list {
		keys := make([]string, 0, len(s.Keys))
		for _, k := range s.Keys {
			keys = append(keys, k.Name)
		}
		t.row(s.Namespace, s.Name, strings.Join(keys, ","), s.ModifyIndex, s.Hash, s.KeyID, age(s.ModifyTime))
	}
	return t.flush()
}

// describeFileObject shows a config (with its data) or a secret (keys
// and sizes, values <redacted>), the services that use it and its events.
func describeFileObject(cmd *cobra.Command, c *api.Client, kind, namespace, name string) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	services, _, err := c.Services(ctx, api.QueryOptions{})
	if err != nil {
		return err
	}
	var keys []api.SecretKey
	var data map[string]string
	var header string
	if kind == api.KindSecret {
		s, _, err := c.Secret(ctx, namespace, name, api.QueryOptions{})
		if err != nil {
			return err
		}
		keys = s.Keys
		header = fmt.Sprintf("Name:        %s\nNamespace:   %s\nKind:        Secret (encrypted at rest under key %s)\nVersion:     %d (hash %s)\nModified:    %s ago\n",
			s.Name, s.Namespace, s.KeyID, s.ModifyIndex, s.Hash, age(s.ModifyTime))
	} else {
		cfg, _, err := c.Config(ctx, namespace, name, api.QueryOptions{})
		if err != nil {
			return err
		}
		data = cfg.Data
		keys = api.SecretKeysOf(cfg.Data)
		header = fmt.Sprintf("Name:        %s\nNamespace:   %s\nKind:        Config\nVersion:     %d (hash %s)\nModified:    %s ago\n",
			cfg.Name, cfg.Namespace, cfg.ModifyIndex, cfg.Hash, age(cfg.ModifyTime))
	}
	fmt.Fprint(out, header)
	fmt.Fprintln(out, "\nData:")
	for _, k := range keys {
		if kind == api.KindSecret {
			fmt.Fprintf(out, "  %s: <redacted> (%s)\n", k.Name, text.Count(k.Size, "byte"))
			continue
		}
		v := data[k.Name]
		if strings.Contains(v, "\n") || len(v) > 60 {
			fmt.Fprintf(out, "  %s: (%s)\n", k.Name, text.Count(k.Size, "byte"))
			for _, line := range strings.Split(strings.TrimSuffix(v, "\n"), "\n") {
				fmt.Fprintf(out, "    %s\n", line)
			}
			continue
		}
		fmt.Fprintf(out, "  %s: %s\n", k.Name, v)
	}
	if len(keys) == 0 {
		fmt.Fprintln(out, "  (none)")
	}
	fmt.Fprintln(out, "\nUsed by:")
	used := 0
	for _, svc := range services {
		if svc.Namespace != namespace {
			continue
		}
		for _, u := range fileUses(&svc.Spec, kind, name) {
			fmt.Fprintf(out, "  service %s: %s\n", svc.Name, u)
			used++
		}
	}
	if used == 0 {
		fmt.Fprintln(out, "  (no service)")
	}
	return nil
}

// fileUses says how a spec uses a config or secret.
func fileUses(spec *api.ServiceSpec, kind, name string) []string {
	var out []string
	if kind == api.KindSecret {
		for _, s := range spec.Secrets {
			if s.Name != name {
				continue
			}
			if s.Path != "" {
				out = append(out, "files under "+s.Path)
			}
			vars := make([]string, 0, len(s.Env))
			for v, k := range s.Env {
				vars = append(vars, "$"+v+" ← "+k)
			}
			sort.Strings(vars)
			if len(vars) > 0 {
				out = append(out, "env "+strings.Join(vars, ", "))
			}
		}
		return out
	}
	for _, c := range spec.Configs {
		if c.Name == name {
			how := "files under " + c.Path + ", a change rolls the service"
			if c.Reload == api.ReloadSignal {
				how = "files under " + c.Path + ", a change is rewritten in place and sends " + c.Signal
			}
			out = append(out, how)
		}
	}
	return out
}

// newKeyringCmd is `flotilla operator keyring`: the keys that encrypt
// secrets at rest.
func newKeyringCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keyring",
		Short: "Generate, rotate and list the keys that encrypt secrets at rest",
	}
	generate := &cobra.Command{
		Use:   "generate",
		Short: "Print a new keyring file (one key) for the servers' --keyring-file; needs no cluster",
		Example: `  flotilla operator keyring generate > keyring.json && chmod 600 keyring.json
  # copy keyring.json to every server, then: flotilla server ... --keyring-file keyring.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := storage.GenerateKeyring(time.Now())
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new active key, hand it to every server (wrapped under the current one) and encrypt every secret again under it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return fetchAndPrint(cmd, g, "rotate the keyring", (*api.Client).KeyringRotate, func(w io.Writer, r api.KeyringRotateResponse) error {
				_, err := fmt.Fprintf(w, "keyring rotated: key %s is active (was %s); %s encrypted again\n", r.KeyID, r.Previous, text.Count(r.Reencrypted, "secret"))
				return err
			})
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys, which is active, how many secrets each encrypts and which servers hold it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return fetchAndPrint(cmd, g, "", (*api.Client).KeyringStatus, printKeyringStatus)
		},
	}
	cmd.AddCommand(generate, rotate, list)
	return cmd
}

// printKeyringStatus is the table of `operator keyring list`, and what
// to do about a server that misses a key.
func printKeyringStatus(out io.Writer, st *api.KeyringStatus) error {
	t := newTable(out, "KEY ID", "ACTIVE", "SECRETS", "SERVERS", "MISSING ON")
	for _, k := range st.Keys {
		missing := "-"
		if len(k.Missing) > 0 {
			missing = strings.Join(k.Missing, ",")
		}
		servers := strings.Join(k.Servers, ",")
		if len(k.Missing) == 0 && len(st.Unreachable) == 0 {
			servers += " (all)"
		}
		t.row(k.ID, yesNo(k.Active), k.Secrets, servers, missing)
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, u := range st.Unreachable {
		fmt.Fprintf(out, "server %s did not answer\n", u)
	}
	if slices.ContainsFunc(st.Keys, func(k api.KeyringKey) bool { return len(k.Missing) > 0 }) {
		fmt.Fprintln(out, "a server missing a key cannot read the secrets under it: copy the keyring file of a server that has it")
	}
	return nil
}

// fileChanges names the configs and secrets whose content differs between
// two revisions ("config app"), for rollout history.
func fileChanges(prev, cur []api.FileVersion) []string {
	var out []string
	for _, f := range cur {
		i := slices.IndexFunc(prev, func(p api.FileVersion) bool { return p.Kind == f.Kind && p.Name == f.Name })
		if i >= 0 && prev[i].Hash != f.Hash && prev[i].Hash != "" {
			out = append(out, strings.ToLower(f.Kind)+" "+f.Name)
		}
	}
	return out
}
