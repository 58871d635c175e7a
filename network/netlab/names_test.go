package netlab

import (
	"strings"
	"testing"
)

func TestValidateInterfaceName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"eth0", true},
		{"flotilla0", true},
		{strings.Repeat("a", 15), true},
		{strings.Repeat("a", 16), false},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"a:b", false},
		{"a b", false},
	}
	for _, tt := range tests {
		err := ValidateInterfaceName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateInterfaceName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestValidateNetnsName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"flotilla-n1-web-3", true},
		{strings.Repeat("a", 255), true},
		{strings.Repeat("a", 256), false},
		{"", false},
		{".", false},
		{"..", false},
		{"../etc", false},
	}
	for _, tt := range tests {
		err := ValidateNetnsName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateNetnsName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
