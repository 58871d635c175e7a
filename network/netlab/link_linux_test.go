//go:build linux

package netlab

import (
	"net/netip"
	"testing"

	"flotilla/internal/testutil"
)

func TestLinkAliasMarksABridge(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and netlink")
	ns := testNetns(t, "alias")
	inNetns(t, ns, func() error {
		if _, ok, err := LinkAlias("fltestbr"); ok || err != nil {
			t.Errorf("alias of an absent link: ok %v, err %v; want neither", ok, err)
		}
		if err := EnsureBridge("fltestbr", netip.MustParsePrefix("10.204.0.1/24")); err != nil {
			return err
		}
		if alias, ok, err := LinkAlias("fltestbr"); !ok || err != nil || alias != "" {
			t.Errorf("alias of a new bridge: %q %v %v, want none", alias, ok, err)
		}
		if err := SetLinkAlias("fltestbr", "flotilla lab /tmp/labs/x"); err != nil {
			return err
		}
		if alias, ok, err := LinkAlias("fltestbr"); !ok || err != nil || alias != "flotilla lab /tmp/labs/x" {
			t.Errorf("alias after SetLinkAlias: %q %v %v", alias, ok, err)
		}
		return DeleteLink("fltestbr")
	})
}
