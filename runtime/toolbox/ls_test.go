package toolbox

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestLsFlags(t *testing.T) {
	now := time.Now()
	recent := now.Add(-time.Hour)
	old := time.Date(2020, 3, 4, 5, 6, 0, 0, time.Local)
	files := fstest.MapFS{
		"etc":                 {Mode: fs.ModeDir | 0o755, ModTime: recent},
		"etc/web/config.yaml": {Data: []byte("color: blue\n"), Mode: 0o444, ModTime: recent},
		"etc/web/.hidden":     {Data: []byte("x"), Mode: 0o600, ModTime: old},
		"etc/web/big.bin":     {Data: make([]byte, 1536), Mode: 0o644, ModTime: old},
		"etc/web":             {Mode: fs.ModeDir | 0o755, ModTime: recent},
		"bin/sh":              {Data: []byte("/flotilla"), Mode: fs.ModeSymlink | 0o777, ModTime: old},
	}
	at := recent.Format("Jan _2 15:04")
	for _, tc := range []struct {
		args []string
		want string
		code int
		err  string
	}{
		{[]string{"ls", "/etc/web"}, "big.bin\nconfig.yaml\n", 0, ""},
		{[]string{"ls", "-1", "/etc/web"}, "big.bin\nconfig.yaml\n", 0, ""},
		{[]string{"ls", "-A", "/etc/web"}, ".hidden\nbig.bin\nconfig.yaml\n", 0, ""},
		{[]string{"ls", "-a", "/etc/web"}, ".\n..\n.hidden\nbig.bin\nconfig.yaml\n", 0, ""},
		{[]string{"ls", "-l", "/etc/web"}, "-rw-r--r-- 1536 Mar  4  2020 big.bin\n-r--r--r--   12 " + at + " config.yaml\n", 0, ""},
		{[]string{"ls", "-la", "/etc/web"}, "drwxr-xr-x    0 " + at + " .\n" + "drwxr-xr-x    0 " + at + " ..\n" +
			"-rw-------    1 Mar  4  2020 .hidden\n" +
			"-rw-r--r-- 1536 Mar  4  2020 big.bin\n-r--r--r--   12 " + at + " config.yaml\n", 0, ""},
		{[]string{"ls", "-lh", "/etc/web/big.bin"}, "-rw-r--r-- 1.5K Mar  4  2020 /etc/web/big.bin\n", 0, ""},
		{[]string{"ls", "-ld", "/etc"}, "drwxr-xr-x 0 " + at + " /etc\n", 0, ""},
		{[]string{"ls", "-l", "/bin"}, "lrwxrwxrwx 9 Mar  4  2020 sh -> /flotilla\n", 0, ""},
		{[]string{"ls", "-z"}, "", 2, "unknown option -z"},
		{[]string{"ls", "-l", "/nope"}, "", 1, "ls: /nope: No such file or directory"},
		{[]string{"ls", "/etc/web", "/bin"}, "/etc/web:\nbig.bin\nconfig.yaml\n\n/bin:\nsh\n", 0, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut strings.Builder
			code := Run(t.Context(), tc.args, nil, files, &out, &errOut)
			if code != tc.code || out.String() != tc.want || !strings.Contains(errOut.String(), tc.err) {
				t.Errorf("got %d\n%s(stderr %q), want %d\n%s", code, out.String(), errOut.String(), tc.code, tc.want)
			}
		})
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1023: "1023", 1024: "1.0K", 1536: "1.5K", 10 << 10: "10K", 5 << 20: "5.0M", 3 << 30: "3.0G"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}
