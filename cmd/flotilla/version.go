package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion is what the binary knows of its own build: the module
// version, the Go toolchain and the VCS commit go build stamped in.
type buildVersion struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
	Commit    string `json:"commit,omitempty"`
	// CommitTime is the commit's time, as git gave it.
	CommitTime string `json:"commitTime,omitempty"`
	// Modified: the working tree had changes that are not committed.
	Modified bool `json:"modified,omitempty"`
}

func readBuildVersion() buildVersion {
	v := buildVersion{Version: "(unknown)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the version as flotilla version and --version print it.
func (v buildVersion) String() string {
	commit := "unknown (built without VCS information)"
	if v.Commit != "" {
		commit = v.Commit
		if v.CommitTime != "" {
			commit += " (" + v.CommitTime + ")"
		}
		if v.Modified {
			commit += ", with uncommitted changes"
		}
	}
	return fmt.Sprintf("flotilla %s\ngo:      %s %s\ncommit:  %s", v.Version, v.GoVersion, v.Platform, commit)
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the binary's version, Go version and VCS commit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			v := readBuildVersion()
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, v)
			}
			fmt.Fprintln(cmd.OutOrStdout(), v)
			return nil
		},
	}
}
