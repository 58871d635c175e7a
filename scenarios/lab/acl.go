package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"flotilla/api"
)

// A lab with ACLs (Config.ACL): lab up writes a secret to
// acl-bootstrap.token in the lab's directory (mode 0600), the servers
// bootstrap ACLs with it (--acl --acl-bootstrap-token-file), the agents get
// it in $FLOTILLA_TOKEN (not on their command line, which ps shows), and
// the lab's own clients and `flotilla lab env` use it. It is a management
// token: a lab is one person's.

// aclTokenFile is where a lab keeps its bootstrap token.
func (l *Lab) aclTokenFile() string { return filepath.Join(l.Dir, "acl-bootstrap.token") }

// writeACLToken makes the lab's bootstrap token.
func (l *Lab) writeACLToken() error {
	if !l.ACL {
		return nil
	}
	if err := os.WriteFile(l.aclTokenFile(), []byte(api.NewACLSecret()+"\n"), 0o600); err != nil {
		return fmt.Errorf("lab %s: write the ACL token: %w", l.Name, err)
	}
	return nil
}

// Token is the lab's management token ("" for a lab without ACLs).
func (l *Lab) Token() string {
	if !l.ACL {
		return ""
	}
	data, err := os.ReadFile(l.aclTokenFile())
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// aclArgs are a server's ACL flags.
func (l *Lab) aclArgs(p *Process) []string {
	if !l.ACL || p.Role != RoleServer {
		return nil
	}
	return []string{"--acl", "--acl-bootstrap-token-file", l.aclTokenFile()}
}

// aclEnv gives an agent the lab's token.
func (l *Lab) aclEnv(cmd *exec.Cmd, p *Process) {
	if !l.ACL || p.Role != RoleAgent {
		return
	}
	cmd.Env = append(os.Environ(), api.TokenEnv+"="+l.Token())
}

// aclExport is lab env's line for the token.
func (l *Lab) aclExport() string {
	if !l.ACL {
		return ""
	}
	return fmt.Sprintf("export %s=%s\n", api.TokenEnv, l.Token())
}
